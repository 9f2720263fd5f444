package io.csi.pvestorage.bench;

import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The ZFS half of issue 16's parse target (the LVM half is {@link LvmListingBenchmark}): the
 * plugin's two listings of a pool with 667 volumes and 2 snapshots each, i.e. a 2,002-line
 * {@code zfs list} with snapshots (depth 2) and a 668-line one without (depth 1), and the time
 * to parse them into the typed results {@code ListSnapshots} and {@code ListVolumes} are built
 * from. Not a test: it prints numbers.
 *
 * <p>The lines are copied from the recorded listing {@code zfs-plugin-list-snapshots} (OpenZFS
 * 2.1.11, the plugin's own 21 columns): its zvol and dataset rows with their CSI names, claim
 * and PV, and their CSI snapshots' rows, with new names, GUIDs, transaction groups and times.
 * Half the volumes are zvols, half datasets. The runner answers the plugin's exact argv (it
 * refuses any other command) and counts calls: one per listing.
 *
 * <pre>
 * mvn -B -o -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp "target/test-classes:target/classes:$(cat target/cp.txt)" \
 *     io.csi.pvestorage.bench.ZfsListingBenchmark [iterations, default 200]
 * </pre>
 */
public final class ZfsListingBenchmark {

  static final int VOLUMES = 667;
  static final int SNAPSHOTS_PER_VOLUME = 2;
  private static final String POOL = "rpool/data";
  private static final String RECORDED = "zfs-plugin-list-snapshots";

  public static void main(String[] args) throws Exception {
    run(args.length > 0 ? Integer.parseInt(args[0]) : 200, System.out);
  }

  /** Parses {@code iterations} times after one cold parse; prints to {@code out}. */
  static void run(int iterations, PrintStream out) {
    Fixture recorded = Fixture.load("zfs", "2.1.11", RECORDED);
    String withSnapshots = listing(recorded.stdoutText(), true);
    String withoutSnapshots = listing(recorded.stdoutText(), false);
    out.printf(Locale.ROOT, "listing: %d volumes, %d snapshots; %d lines (%d bytes) with"
        + " snapshots, %d lines without%n", VOLUMES, VOLUMES * SNAPSHOTS_PER_VOLUME,
        withSnapshots.split("\n").length, withSnapshots.getBytes(StandardCharsets.UTF_8).length,
        withoutSnapshots.split("\n").length);

    // The plugin's argv for each listing, taken from the recording (depth 2 with snapshots)
    // and its depth 1 form; anything else is refused, so a listing that changes its command
    // or runs a second one shows.
    List<String> snapshotsArgv = recorded.argv();
    List<String> volumesArgv = snapshotsArgv.stream()
        .map(a -> a.equals("filesystem,volume,snapshot") ? "filesystem,volume"
            : a.equals("2") ? "1" : a).toList();
    Map<List<String>, byte[]> answers = new HashMap<>();
    answers.put(snapshotsArgv, withSnapshots.getBytes(StandardCharsets.UTF_8));
    answers.put(volumesArgv, withoutSnapshots.getBytes(StandardCharsets.UTF_8));
    AtomicInteger calls = new AtomicInteger();
    CommandRunner runner = command -> {
      byte[] answer = answers.get(command.argv());
      if (answer == null) {
        throw new IllegalStateException("unexpected command " + command.argv());
      }
      calls.incrementAndGet();
      return new CommandResult(command, 0, answer, new byte[0], Duration.ZERO);
    };
    ZfsPoolPlugin plugin = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", POOL,
        OptionalLong.empty(), true, Optional.empty(),
        new CommonOptions(Set.of(), false, Set.of("images", "rootdir"), 0,
            CapacityPolicy.DEFAULT)), runner);

    long t0 = System.nanoTime();
    List<SnapshotInfo> firstSnapshots = plugin.listSnapshots(Optional.empty());
    double coldMs = (System.nanoTime() - t0) / 1e6;
    if (firstSnapshots.size() != VOLUMES * SNAPSHOTS_PER_VOLUME) {
      throw new IllegalStateException("listed " + firstSnapshots.size() + " snapshots");
    }
    double[] snapshotMs = new double[iterations];
    double[] volumeMs = new double[iterations];
    int images = 0;
    for (int i = 0; i < iterations; i++) {
      int before = calls.get();
      long a = System.nanoTime();
      List<SnapshotInfo> snapshots = plugin.listSnapshots(Optional.empty());
      long b = System.nanoTime();
      List<ImageInfo> volumes = plugin.listImages(OptionalLong.empty(), Optional.empty());
      long c = System.nanoTime();
      if (calls.get() - before != 2 || snapshots.size() != VOLUMES * SNAPSHOTS_PER_VOLUME) {
        throw new IllegalStateException((calls.get() - before) + " commands for two listings, "
            + snapshots.size() + " snapshots");
      }
      snapshotMs[i] = (b - a) / 1e6;
      volumeMs[i] = (c - b) / 1e6;
      images = volumes.size();
    }
    if (images != VOLUMES) {
      throw new IllegalStateException("listed " + images + " volumes");
    }
    out.printf(Locale.ROOT, "%d zfs list calls for %d listings (1 per listing)%n", calls.get(),
        2 * iterations + 1);
    out.printf(Locale.ROOT, "first listSnapshots in the JVM (cold, before JIT): %.1f ms%n",
        coldMs);
    LvmListingBenchmark.print(out, "listSnapshots, 2,002 lines (warm)", snapshotMs);
    LvmListingBenchmark.print(out, "listImages, 668 lines (warm)", volumeMs);
    out.printf(Locale.ROOT, "java %s, %d CPUs%n", System.getProperty("java.version"),
        Runtime.getRuntime().availableProcessors());
  }

  /**
   * The recorded listing's pool row, then {@link #VOLUMES} volumes in its zvol's and dataset's
   * shape, each followed by its {@link #SNAPSHOTS_PER_VOLUME} snapshots (as {@code zfs list -r}
   * orders them) when {@code snapshots}.
   */
  static String listing(String recorded, boolean snapshots) {
    Map<String, String[]> rows = new HashMap<>();
    for (String line : recorded.split("\n")) {
      String[] f = line.split("\t", -1);
      rows.put(f[0], f);
    }
    String[] pool = rows.get(POOL);
    String[] zvol = rows.get(POOL + "/vm-0-pvc-1");
    String[] zvolSnapshot = rows.get(POOL + "/vm-0-pvc-1@snap-a");
    String[] dataset = rows.get(POOL + "/subvol-0-pvc-2");
    String[] datasetSnapshot = rows.get(POOL + "/subvol-0-pvc-2@snap-c");
    StringBuilder out = new StringBuilder(String.join("\t", pool)).append('\n');
    long txg = 100;
    for (int i = 0; i < VOLUMES; i++) {
      boolean isZvol = i % 2 == 0;
      String csiName = "pvc-" + LvmListingBenchmark.uuid(i);
      String name = POOL + "/" + (isZvol ? "vm-" : "subvol-") + (1000 + i / 4) + "-" + csiName;
      String[] row = (isZvol ? zvol : dataset).clone();
      row[0] = name;
      row[5] = Long.toString(1796637957L + i);
      row[11] = Long.toUnsignedString(0x9e3779b97f4a7c15L * (3L * i + 1));
      row[12] = Long.toString(txg++);
      row[15] = csiName;
      row[18] = csiName;
      out.append(String.join("\t", row)).append('\n');
      for (int s = 0; snapshots && s < SNAPSHOTS_PER_VOLUME; s++) {
        String snapshotName = String.format(Locale.ROOT, "snapshot-%05x-%d", i, s);
        String[] snap = (isZvol ? zvolSnapshot : datasetSnapshot).clone();
        snap[0] = name + "@" + snapshotName;
        snap[5] = Long.toString(1796638957L + i * 2 + s);
        snap[11] = Long.toUnsignedString(0x9e3779b97f4a7c15L * (3L * i + 2 + s));
        snap[12] = Long.toString(txg++);
        snap[13] = "-";
        snap[15] = csiName;
        snap[18] = csiName;
        snap[19] = snapshotName;
        out.append(String.join("\t", snap)).append('\n');
      }
    }
    return out.toString();
  }

  private ZfsListingBenchmark() {}
}
