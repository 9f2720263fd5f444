package io.csi.pvestorage.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.lvmthin.LogicalVolume;
import io.csi.pvestorage.storage.lvmthin.LvTags;
import io.csi.pvestorage.storage.lvmthin.LvmCommands;
import io.csi.pvestorage.storage.lvmthin.LvmReportParser;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * How much listing costs with 2,000 LVs: the number of {@code lvs} calls per listing, and the
 * time to parse the report and build the typed result. Not a test: it prints numbers.
 *
 * <p>The report is generated from the shape of the recorded fixture {@code plugin-lvs-volumes}
 * (lvm2 2.03.16, the plugin's own columns): its pool row, then 2,000 thin LVs copied from its
 * volume, snapshot and clone rows with new names, sizes, times and four tags each (the CSI name,
 * the claim, the PV; every tenth with a b64 value), i.e. 1,600 volumes, 300 snapshots and 100
 * clones. The runner answers that report to the plugin's exact {@code lvs} argv and counts
 * calls.
 *
 * <pre>
 * mvn -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp "target/test-classes:target/classes:$(cat target/cp.txt)" \
 *     io.csi.pvestorage.bench.LvmListingBenchmark [iterations]
 * </pre>
 */
public final class LvmListingBenchmark {

  static final int VOLUMES = 1600;
  static final int SNAPSHOTS = 300;
  static final int CLONES = 100;

  public static void main(String[] args) throws Exception {
    run(args.length > 0 ? Integer.parseInt(args[0]) : 200, System.out);
  }

  /** Parses {@code iterations} times after the cold parses; prints to {@code out}. */
  static void run(int iterations, PrintStream out) throws Exception {
    String report = report();
    int lines = report.split("\n").length;
    out.printf(Locale.ROOT, "report: %d LVs (+1 pool), %d lines, %d bytes%n",
        VOLUMES + SNAPSHOTS + CLONES, lines, report.getBytes(StandardCharsets.UTF_8).length);

    Command expected = LvmCommands.lvs("pve");
    AtomicInteger calls = new AtomicInteger();
    CommandRunner runner = command -> {
      if (!command.argv().equals(expected.argv())) {
        throw new IllegalStateException("unexpected command " + command.argv());
      }
      calls.incrementAndGet();
      return new CommandResult(command, 0, report.getBytes(StandardCharsets.UTF_8), new byte[0],
          Duration.ZERO);
    };
    LvmThinPlugin plugin = new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve", "data",
        new CommonOptions(Set.of(), false, Set.of("images"), 0, CapacityPolicy.DEFAULT)), runner);
    out.println("command: " + expected.display());

    // cold: the first parses in this JVM. The recorded 8-LV report pays class loading and the
    // parser's one-time set-up; the first 2,000-LV parse then runs mostly interpreted (no JIT yet)
    String small = Fixture.load("lvm", "2.03.16", "plugin-lvs-volumes").stdoutText();
    long s0 = System.nanoTime();
    LvmReportParser.parse(small);
    double setupMs = (System.nanoTime() - s0) / 1e6;
    long t0 = System.nanoTime();
    List<LogicalVolume> parsed = LvmReportParser.parse(report);
    double coldMs = (System.nanoTime() - t0) / 1e6;
    if (parsed.size() != VOLUMES + SNAPSHOTS + CLONES + 1) {
      throw new IllegalStateException("parsed " + parsed.size() + " LVs");
    }

    double[] parseMs = new double[iterations];
    double[] listMs = new double[iterations];
    double[] snapMs = new double[iterations];
    int images = 0;
    int snapshots = 0;
    for (int i = 0; i < iterations; i++) {
      long a = System.nanoTime();
      LvmReportParser.parse(report);
      long b = System.nanoTime();
      int before = calls.get();
      List<ImageInfo> list = plugin.listImages(OptionalLong.empty(), Optional.empty());
      long c = System.nanoTime();
      if (calls.get() - before != 1) {
        throw new IllegalStateException("listImages ran " + (calls.get() - before) + " commands");
      }
      List<SnapshotInfo> snaps = plugin.listSnapshots(Optional.empty());
      long d = System.nanoTime();
      parseMs[i] = (b - a) / 1e6;
      listMs[i] = (c - b) / 1e6;
      snapMs[i] = (d - c) / 1e6;
      images = list.size();
      snapshots = snaps.size();
    }
    out.printf(Locale.ROOT, "listImages -> %d images, listSnapshots -> %d snapshots, "
        + "%d lvs calls for %d listings (1 per listing)%n", images, snapshots, calls.get(),
        2 * iterations);
    out.printf(Locale.ROOT, "first parse in the JVM (8-LV fixture, one-time set-up): %.1f ms%n",
        setupMs);
    out.printf(Locale.ROOT, "first 2,000-LV parse (cold, before JIT): %.1f ms%n", coldMs);
    print(out, "parse (warm)", parseMs);
    print(out, "listImages incl. parse, tags (warm)", listMs);
    print(out, "listSnapshots incl. parse (warm)", snapMs);
    out.printf(Locale.ROOT, "java %s, %d CPUs%n", System.getProperty("java.version"),
        Runtime.getRuntime().availableProcessors());
  }

  static void print(PrintStream out, String what, double[] ms) {
    double[] sorted = ms.clone();
    Arrays.sort(sorted);
    out.printf(Locale.ROOT, "%s over %d runs: median %.2f ms, p90 %.2f ms, max %.2f ms%n",
        what, sorted.length, sorted[sorted.length / 2], sorted[(int) (sorted.length * 0.9)],
        sorted[sorted.length - 1]);
  }

  /** 2,000 LVs in the recorded report's shape (same keys, order and formatting per row). */
  static String report() throws Exception {
    ObjectMapper json = new ObjectMapper();
    JsonNode recorded = json.readTree(Fixture.load("lvm", "2.03.16", "plugin-lvs-volumes").stdout());
    JsonNode rows = recorded.path("report").get(0).path("lv");
    ObjectNode pool = null;
    ObjectNode volume = null;
    ObjectNode snapshot = null;
    ObjectNode clone = null;
    for (JsonNode row : rows) {
      String name = row.path("lv_name").asText();
      switch (name) {
        case "data" -> pool = (ObjectNode) row;
        case "vm-400-disk-0" -> volume = (ObjectNode) row;
        case "snap_vm-400-disk-0_before-upgrade" -> snapshot = (ObjectNode) row;
        case "vm-401-disk-0" -> clone = (ObjectNode) row;
        default -> { }
      }
    }
    StringBuilder out = new StringBuilder();
    out.append("  {\n      \"report\": [\n          {\n              \"lv\": [\n");
    out.append("                  ").append(json.writeValueAsString(pool).replace(",\"", ", \""));
    long time = 1795546575L;
    for (int i = 0; i < VOLUMES; i++) {
      String name = "vm-" + (1000 + i / 4) + "-pvc-" + uuid(i);
      ObjectNode row = volume.deepCopy();
      row.put("lv_name", name);
      row.put("lv_size", Long.toString((1L + i % 64) << 30));
      row.put("data_percent", String.format(Locale.ROOT, "%.2f", (i * 7 % 10000) / 100.0));
      row.put("lv_tags", String.join(",", LvTags.encode(new VolumeMetadata(
          i % 10 == 0 ? "import, legacy disk " + i : "pvc-" + uuid(i),
          Optional.of("team-" + i % 17), Optional.of("data-db-" + i), Optional.of("pvc-" + uuid(i))))
          .stream().sorted().toList()));
      row.put("lv_time", Long.toString(time + i));
      append(out, json, row);
    }
    for (int i = 0; i < SNAPSHOTS; i++) {
      String origin = "vm-" + (1000 + i / 4) + "-pvc-" + uuid(i);
      ObjectNode row = snapshot.deepCopy();
      row.put("lv_name", "snap_" + origin + "_snapshot-" + Integer.toHexString(0x10000 + i));
      row.put("origin", origin);
      row.put("lv_size", Long.toString((1L + i % 64) << 30));
      row.put("lv_tags", String.join(",", LvTags.encode(VolumeMetadata.of("snapshot-" + uuid(i)))));
      row.put("lv_time", Long.toString(time + VOLUMES + i));
      append(out, json, row);
    }
    for (int i = 0; i < CLONES; i++) {
      ObjectNode row = clone.deepCopy();
      row.put("lv_name", "vm-" + (2000 + i) + "-disk-0");
      row.put("origin", "snap_vm-" + (1000 + i / 4) + "-pvc-" + uuid(i) + "_snapshot-"
          + Integer.toHexString(0x10000 + i));
      row.put("lv_tags", String.join(",", LvTags.encode(VolumeMetadata.of("pvc-clone-" + i))));
      append(out, json, row);
    }
    out.append("\n              ]\n          }\n      ]\n  }\n");
    return out.toString();
  }

  private static void append(StringBuilder out, ObjectMapper json, ObjectNode row)
      throws Exception {
    out.append(",\n                  ").append(json.writeValueAsString(row).replace(",\"", ", \""));
  }

  static String uuid(int i) {
    return String.format(Locale.ROOT, "%08x-5d4f-4e8a-9c3b-%012x", 0x0b7e2c1a + i, 0x1f2e3d4c5b6aL + i);
  }
}
