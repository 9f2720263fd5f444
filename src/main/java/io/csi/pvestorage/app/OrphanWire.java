package io.csi.pvestorage.app;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.csi.pvestorage.reconcile.Orphan;
import io.csi.pvestorage.reconcile.OrphanReconciler;
import io.csi.pvestorage.reconcile.OrphanReport;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The orphan report as a {@code google.protobuf.Struct} (what {@link OrphanService} answers),
 * and back to the table {@code client orphans} prints. Field names are the JSON the client
 * prints with {@code --json}: {@code node}, {@code at}, {@code graceSeconds}, {@code cleanup},
 * {@code error}, {@code storages[]} with {@code storage}, {@code backend}, {@code error},
 * {@code orphans[]} ({@code kind}, {@code id}, {@code sizeBytes}, {@code created}, {@code
 * claim}, {@code pv}, {@code csiName}, {@code note}) and {@code cleaned[]} (IDs).
 */
final class OrphanWire {

  private OrphanWire() {}

  static Struct toStruct(OrphanReport report, OrphanReconciler.Settings settings) {
    Struct.Builder root = Struct.newBuilder()
        .putFields("node", text(report.node()))
        .putFields("at", text(report.at().toString()))
        .putFields("graceSeconds", number(settings.grace().toSeconds()))
        .putFields("cleanup", Value.newBuilder().setBoolValue(settings.cleanup()).build());
    report.error().ifPresent(e -> root.putFields("error", text(e)));
    ListValue.Builder storages = ListValue.newBuilder();
    for (OrphanReport.StorageResult s : report.storages()) {
      Struct.Builder storage = Struct.newBuilder()
          .putFields("storage", text(s.storage()))
          .putFields("backend", text(s.backend()));
      s.error().ifPresent(e -> storage.putFields("error", text(e)));
      ListValue.Builder orphans = ListValue.newBuilder();
      for (Orphan o : s.orphans()) {
        Struct.Builder row = Struct.newBuilder()
            .putFields("kind", text(o.kind().label()))
            .putFields("id", text(o.id()))
            .putFields("sizeBytes", number(o.sizeBytes()))
            .putFields("note", text(o.note()));
        o.created().ifPresent(t -> row.putFields("created", text(t.toString())));
        o.claim().ifPresent(c -> row.putFields("claim", text(c)));
        o.pvName().ifPresent(p -> row.putFields("pv", text(p)));
        o.csiName().ifPresent(n -> row.putFields("csiName", text(n)));
        orphans.addValues(Value.newBuilder().setStructValue(row));
      }
      storage.putFields("orphans", Value.newBuilder().setListValue(orphans).build());
      ListValue.Builder cleaned = ListValue.newBuilder();
      s.cleaned().forEach(o -> cleaned.addValues(text(o.id())));
      storage.putFields("cleaned", Value.newBuilder().setListValue(cleaned).build());
      storages.addValues(Value.newBuilder().setStructValue(storage));
    }
    root.putFields("storages", Value.newBuilder().setListValue(storages).build());
    return root.build();
  }

  /**
   * The report as a table: one line per orphan with its storage, kind, ID, size, age (at the
   * time of the pass), claim, PV and note; then one line per storage that could not be read,
   * and the error of a pass that could not read the API.
   */
  static String table(Struct report) {
    Map<String, Value> root = report.getFieldsMap();
    Instant at = instant(string(root, "at")).orElse(null);
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"STORAGE", "KIND", "ID", "SIZE", "AGE", "CLAIM", "PV", "NOTE"});
    List<String> problems = new ArrayList<>();
    for (Value sv : list(root, "storages")) {
      Map<String, Value> s = sv.getStructValue().getFieldsMap();
      String storage = string(s, "storage");
      if (s.containsKey("error")) {
        problems.add("storage " + storage + " not checked: " + string(s, "error"));
      }
      for (Value ov : list(s, "orphans")) {
        Map<String, Value> o = ov.getStructValue().getFieldsMap();
        String age = at == null ? "" : instant(string(o, "created"))
            .map(c -> age(Duration.between(c, at))).orElse("?");
        String note = string(o, "note");
        if (o.containsKey("csiName")) {
          note = ("csi name " + string(o, "csiName") + " " + note).strip();
        }
        rows.add(new String[] {storage, string(o, "kind"), string(o, "id"),
            bytes((long) o.get("sizeBytes").getNumberValue()), age, dash(string(o, "claim")),
            dash(string(o, "pv")), note});
      }
      for (Value cv : list(s, "cleaned")) {
        problems.add("deleted by this pass: " + cv.getStringValue());
      }
    }
    StringBuilder out = new StringBuilder();
    out.append("# node ").append(string(root, "node")).append(", checked ")
        .append(string(root, "at")).append(", grace ")
        .append(age(Duration.ofSeconds((long) root.get("graceSeconds").getNumberValue())))
        .append(", clean-up ").append(root.get("cleanup").getBoolValue() ? "on" : "off")
        .append('\n');
    if (root.containsKey("error")) {
      out.append("error: nothing compared: ").append(string(root, "error")).append('\n');
      return out.toString().stripTrailing();
    }
    if (rows.size() == 1) {
      out.append("no orphans\n");
    } else {
      int[] widths = new int[rows.get(0).length];
      for (String[] row : rows) {
        for (int i = 0; i < row.length; i++) {
          widths[i] = Math.max(widths[i], row[i].length());
        }
      }
      for (String[] row : rows) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < row.length; i++) {
          line.append(i == row.length - 1 ? row[i] : String.format("%-" + widths[i] + "s  ",
              row[i]));
        }
        out.append(line.toString().stripTrailing()).append('\n');
      }
    }
    problems.forEach(p -> out.append(p).append('\n'));
    return out.toString().stripTrailing();
  }

  private static Value text(String s) {
    return Value.newBuilder().setStringValue(s).build();
  }

  private static Value number(long n) {
    return Value.newBuilder().setNumberValue(n).build();
  }

  private static String string(Map<String, Value> fields, String key) {
    Value v = fields.get(key);
    return v == null ? "" : v.getStringValue();
  }

  private static List<Value> list(Map<String, Value> fields, String key) {
    Value v = fields.get(key);
    return v == null ? List.of() : v.getListValue().getValuesList();
  }

  private static Optional<Instant> instant(String text) {
    try {
      return text.isEmpty() ? Optional.empty() : Optional.of(Instant.parse(text));
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static String dash(String s) {
    return s.isEmpty() ? "-" : s;
  }

  /** Like kubectl's ages: 45s, 12m, 5h, 3d. */
  static String age(Duration d) {
    long s = Math.max(0, d.toSeconds());
    if (s < 120) {
      return s + "s";
    }
    if (s < 2 * 3600) {
      return s / 60 + "m";
    }
    if (s < 2 * 86400) {
      return s / 3600 + "h";
    }
    return s / 86400 + "d";
  }

  /** Bytes in binary units, one decimal: 1.0Gi, 512.0Mi, 0. */
  static String bytes(long n) {
    String[] units = {"Ki", "Mi", "Gi", "Ti", "Pi"};
    if (n < 1024) {
      return Long.toString(n);
    }
    double v = n;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(java.util.Locale.ROOT, "%.1f%s", v, units[u]);
  }
}
