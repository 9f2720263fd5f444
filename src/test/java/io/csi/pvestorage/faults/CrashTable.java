package io.csi.pvestorage.faults;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The crash suite's result: one row per injection point (path, step, backend) with its
 * outcome, printed as a table with a summary line of counts per outcome.
 */
final class CrashTable {

  /** What a crash at one point led to, after the restart and the retries. */
  enum Outcome {
    /** The retry answered OK, the object exists once (or is gone) and its data reads back. */
    CONVERGED,
    /** Something was left that nothing owns (an LV, dataset, snapshot, mount or directory). */
    ORPHAN,
    /** Data or an object that existed before the crash is gone or changed. */
    LOST,
    /** The retries never answered OK. */
    STUCK,
    /** The armed step was never reached (the call ran fewer commands than its count run). */
    NOT_REACHED
  }

  /**
   * One injection point.
   *
   * @param step e.g. {@code after 3 lvcreate}; {@code count} for the unarmed run
   * @param detail why it is not converged, or how long the restart and retries took
   */
  record Row(String backend, String path, String step, Outcome outcome, String detail) {}

  private final List<Row> rows = new ArrayList<>();

  synchronized void add(Row row) {
    rows.add(row);
    System.out.println("crash point: " + format(row));
  }

  synchronized List<Row> rows() {
    return List.copyOf(rows);
  }

  /** The rows that are not CONVERGED. */
  synchronized List<Row> failures() {
    return rows.stream().filter(r -> r.outcome() != Outcome.CONVERGED).toList();
  }

  /** The table in Markdown, then the summary line. */
  synchronized String render() {
    StringBuilder out = new StringBuilder();
    out.append("| backend | path | step | outcome | detail |\n|---|---|---|---|---|\n");
    for (Row row : rows) {
      out.append("| ").append(format(row).replace(" :: ", " | ")).append(" |\n");
    }
    return out.append(summary()).append('\n').toString();
  }

  /** {@code crash at every step: 42 points (lvmthin 14, ...): 42 converged, 0 orphan, ...}. */
  synchronized String summary() {
    Map<Outcome, Integer> counts = new EnumMap<>(Outcome.class);
    for (Outcome outcome : Outcome.values()) {
      counts.put(outcome, 0);
    }
    Map<String, Integer> perBackend = new java.util.LinkedHashMap<>();
    for (Row row : rows) {
      counts.merge(row.outcome(), 1, Integer::sum);
      perBackend.merge(row.backend(), 1, Integer::sum);
    }
    List<String> parts = new ArrayList<>();
    counts.forEach((o, n) -> parts.add(n + " " + o.name().toLowerCase(Locale.ROOT)));
    return "crash at every step: " + rows.size() + " points " + perBackend + ": "
        + String.join(", ", parts);
  }

  private static String format(Row row) {
    return String.join(" :: ", row.backend(), row.path(), row.step(),
        row.outcome().name().toLowerCase(Locale.ROOT), row.detail().replace('|', '/')
            .replace('\n', ' '));
  }
}
