package io.csi.pvestorage.bench;

import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListSnapshotsResponse;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.lvmthin.LvTags;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Issue 16, targets 3 and 4: what the driver's calls cost as one storage fills up, and a burst
 * of CreateVolumes in flight at once. Not a test: it prints tables.
 *
 * <p>Per backend (LVM-thin, zvol, dataset) and per N (default 10 and 100): the storage is filled
 * to N volumes with 2 snapshots each by argv commands in the guest (not through the driver: a
 * {@code zfs snapshot} takes the snapshots of a hundred volumes in one command), each volume
 * carrying a CSI name as the driver writes it, so that the driver lists them as its own. Then,
 * against the driver ({@code serve --mode all} in the guest, Lease lock on the fabric8 mock API
 * server, as {@link RpcBenchmark} runs it): CreateVolume (median of {@code calls}, each removed
 * again untimed), ListVolumes of everything in one call and in pages of 100, ListSnapshots,
 * GetCapacity, and one refresh of the pool gauges. Each is given as time and as lvm/zfs commands
 * per call, from the driver's {@code pve_csi_storage_command_duration_seconds} meters read before
 * and after. The pool gauges refresh every 40 s ({@link #REFRESH}): a measured section that a
 * refresh fell into is measured again, and the refresh itself is the meters' difference across
 * one refresh (its commands, and the time in them, by the backend's verbs).
 *
 * <p>Then, on the first backend named, a burst: {@code burst} CreateVolumes sent at once, each with a 10-min
 * gRPC deadline: how many succeeded (and the others' status codes), the total time, volumes per
 * second, and the writes to the mock API server's Leases during the burst (the difference of its
 * resource version, which counts every write). The driver runs with {@code --max-calls} above the
 * burst, so that what is measured is the storage lock's queue, not the call limit's refusals.
 *
 * <pre>
 * mvn -B -o -q -DskipTests package dependency:build-classpath \
 *     -Dmdep.includeScope=test -Dmdep.outputFile=target/test-classpath.txt
 * java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
 *     io.csi.pvestorage.bench.ScaleBenchmark [--n=10,100] [--calls=5] [--burst=100] \
 *     [zvol|lvmthin|dataset ...]
 * </pre>
 */
public final class ScaleBenchmark {

  static final int SNAPSHOTS_PER_VOLUME = 2;
  /** How often the pool gauges refresh in the benchmark's driver (production: 30 s). */
  static final Duration REFRESH = Duration.ofSeconds(40);
  private static final long VOLUME_BYTES = 4L << 20;
  private static final int PAGE = 100;
  private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(5);
  private static final String VG = VmHarness.VG;
  private static final String POOL = VmHarness.ZFS_DATASET;
  private static final String NAME_PREFIX = "scale-";

  /** One line of the flat-cost table: a call's median time and its commands per call. */
  record Cost(String backend, int n, String call, int calls, double millis,
      Map<String, Double> commands, double commandMillis) {
    double commandCount() {
      return commands.values().stream().mapToDouble(Double::doubleValue).sum();
    }
  }

  /** The burst's outcome. */
  record Burst(String backend, int inFlight, int succeeded, Map<String, Integer> failures,
      double seconds, long leaseWrites) {}

  private final GuestDriver driver;
  private final GuestCommandRunner guest;
  private final ControllerGrpc.ControllerBlockingStub controller;
  private final Duration refresh;
  private final PrintStream out;

  /** {@code refresh}: the pool gauges' interval the driver was started with. */
  ScaleBenchmark(GuestDriver driver, Duration refresh, PrintStream out) {
    this.refresh = refresh;
    this.driver = driver;
    this.guest = driver.guest();
    this.controller = ControllerGrpc.newBlockingStub(driver.channel());
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    List<Integer> ns = List.of(10, 100);
    int calls = 5;
    int burst = 100;
    List<String> names = new ArrayList<>();
    for (String arg : args) {
      if (arg.startsWith("--n=")) {
        ns = Arrays.stream(arg.substring(4).split(",")).map(Integer::valueOf).toList();
      } else if (arg.startsWith("--calls=")) {
        calls = Integer.parseInt(arg.substring(8));
      } else if (arg.startsWith("--burst=")) {
        burst = Integer.parseInt(arg.substring(8));
      } else {
        names.add(arg);
      }
    }
    List<Backend> backends = RpcBenchmark.backends(names);
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults());
        GuestDriver driver = start(vm, burst, REFRESH)) {
      ScaleBenchmark bench = new ScaleBenchmark(driver, REFRESH, System.out);
      List<Cost> costs = new ArrayList<>();
      List<Burst> bursts = new ArrayList<>();
      for (Backend backend : backends) {
        costs.addAll(bench.flatCost(backend, ns, calls));
        if (burst > 0 && backend == backends.getFirst()) { // the burst: on the first backend
          bursts.add(bench.burst(backend, burst));
        }
        bench.removeFixture(backend);
      }
      System.out.println();
      System.out.print(costTable(costs));
      System.out.print(burstTable(bursts));
    }
  }

  /** The driver for this benchmark: Lease lock, calls above the burst. */
  static GuestDriver start(VmHarness vm, int burst, Duration refresh)
      throws InterruptedException {
    return GuestDriver.start(vm, 10_540, GuestDriver.LockMode.LEASE, refresh,
        List.of("--max-calls", Integer.toString(Math.max(32, burst + 8))), Map.of());
  }

  // ---- target 3: flat cost ------------------------------------------------------------------

  /** Fills the storage to each N in turn and measures the calls there. */
  List<Cost> flatCost(Backend backend, List<Integer> ns, int calls) {
    List<Cost> costs = new ArrayList<>();
    int made = 0;
    for (int n : ns) {
      long start = System.nanoTime();
      for (int i = made; i < n; i += PAGE) {
        makeVolumes(backend, i, Math.min(n, i + PAGE));
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      if (n > made) {
        out.printf(Locale.ROOT, "%s: made volumes %d..%d with %d snapshots each in %.1f s "
            + "(%.2f volumes/s with their snapshots)%n", backend.name(), made, n - 1,
            SNAPSHOTS_PER_VOLUME, seconds, (n - made) / seconds);
      }
      made = Math.max(made, n);
      List<Cost> atN = measureAt(backend, n, calls);
      out.print(costTable(atN));
      costs.addAll(atN);
    }
    return costs;
  }

  private List<Cost> measureAt(Backend backend, int n, int calls) {
    List<Cost> costs = new ArrayList<>();
    costs.add(section(backend, n, "CreateVolume", calls, () -> {
      double[] millis = new double[calls];
      List<String> made = new ArrayList<>();
      for (int i = 0; i < calls; i++) {
        long t = System.nanoTime();
        made.add(create(backend, "bench-" + UUID.randomUUID(), Duration.ofMinutes(5)));
        millis[i] = (System.nanoTime() - t) / 1e6;
      }
      return new Timed(RpcBenchmark.median(millis), () -> made.forEach(this::delete));
    }));
    costs.add(section(backend, n, "ListVolumes, all in one", 1, () -> {
      long t = System.nanoTime();
      ListVolumesResponse all = controller.withDeadlineAfter(5, TimeUnit.MINUTES)
          .listVolumes(ListVolumesRequest.getDefaultInstance());
      double millis = (System.nanoTime() - t) / 1e6;
      expectAtLeast(n, count(all.getEntriesList().stream()
          .map(e -> e.getVolume().getVolumeId()).toList(), backend), "volumes listed");
      return new Timed(millis, () -> { });
    }));
    int[] pages = new int[1];
    Cost paged = section(backend, n, "ListVolumes, pages of " + PAGE, -1, () -> {
      long t = System.nanoTime();
      String token = "";
      List<String> ids = new ArrayList<>();
      pages[0] = 0;
      do {
        ListVolumesResponse page = controller.withDeadlineAfter(5, TimeUnit.MINUTES).listVolumes(
            ListVolumesRequest.newBuilder().setMaxEntries(PAGE).setStartingToken(token).build());
        page.getEntriesList().forEach(e -> ids.add(e.getVolume().getVolumeId()));
        token = page.getNextToken();
        pages[0]++;
      } while (!token.isEmpty());
      double millis = (System.nanoTime() - t) / 1e6;
      expectAtLeast(n, count(ids, backend), "volumes listed in pages");
      return new Timed(millis / pages[0], () -> { });
    });
    costs.add(new Cost(paged.backend(), n, paged.call() + " (" + pages[0] + " pages)",
        pages[0], paged.millis(), divide(paged.commands(), pages[0]),
        paged.commandMillis() / pages[0]));
    costs.add(section(backend, n, "ListSnapshots", 1, () -> {
      long t = System.nanoTime();
      ListSnapshotsResponse all = controller.withDeadlineAfter(5, TimeUnit.MINUTES)
          .listSnapshots(ListSnapshotsRequest.getDefaultInstance());
      double millis = (System.nanoTime() - t) / 1e6;
      expectAtLeast(n * SNAPSHOTS_PER_VOLUME, count(all.getEntriesList().stream()
          .map(e -> e.getSnapshot().getSnapshotId()).toList(), backend), "snapshots listed");
      return new Timed(millis, () -> { });
    }));
    costs.add(section(backend, n, "GetCapacity", 1, () -> {
      long t = System.nanoTime();
      controller.withDeadlineAfter(5, TimeUnit.MINUTES).getCapacity(GetCapacityRequest
          .newBuilder().putParameters("storage", backend.storage()).build());
      return new Timed((System.nanoTime() - t) / 1e6, () -> { });
    }));
    costs.add(gaugeRefresh(backend, n));
    return costs;
  }

  /** A measured section's time per call and what to undo after the meters are read. */
  private record Timed(double millis, Runnable undo) {}

  /**
   * Runs {@code body} between two readings of the meters; again (up to 3 times) when a pool
   * gauge refresh ran meanwhile, since its commands would count. {@code calls} divides the
   * commands ({@code -1}: the body's own count, set by it, is used by the caller).
   */
  private Cost section(Backend backend, int n, String call, int calls, Supplier<Timed> body) {
    for (int attempt = 1; ; attempt++) {
      Map<String, Double> before = metrics();
      Timed timed = body.get();
      Map<String, Double> after = metrics();
      timed.undo().run();
      if (refreshes(before).equals(refreshes(after)) || attempt == 3) {
        Map<String, Double> delta = DriverMeters.delta(before, after);
        int per = Math.max(1, calls);
        return new Cost(backend.name(), n, call, calls, timed.millis(),
            divide(DriverMeters.commandsByVerb(delta, verb -> true), per),
            DriverMeters.commandSeconds(delta, verb -> true) * 1000 / per);
      }
    }
  }

  /**
   * One refresh of the pool gauges: waits for the backend storage's next one and counts the
   * commands of the backend's tool meanwhile (the other storage refreshes too, with the other
   * tool; nothing else runs).
   */
  private Cost gaugeRefresh(Backend backend, int n) {
    Map<String, Double> before = metrics();
    String key = refreshes(before).keySet().stream()
        .filter(k -> k.contains("storage=\"" + backend.storage() + "\"")).findFirst()
        .orElseThrow(() -> new IllegalStateException("no pool gauge refresh time of "
            + backend.storage() + " in the driver's meters"));
    Double last = before.get(key);
    long deadline = System.nanoTime() + 3 * refresh.toNanos();
    Map<String, Double> after = before;
    while (after.get(key).equals(last)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no pool gauge refresh in " + refresh.multipliedBy(3));
      }
      RpcBenchmark.sleep(500);
      after = metrics();
    }
    RpcBenchmark.sleep(500); // the other storage's refresh, started at the same time, may still run
    after = metrics();
    Map<String, Double> delta = DriverMeters.delta(before, after);
    java.util.function.Predicate<String> tool = verb -> backend.isLvm()
        ? verb.startsWith("lv") || verb.startsWith("vg") || verb.startsWith("pv")
        : verb.startsWith("zfs") || verb.startsWith("zpool");
    double commandMillis = DriverMeters.commandSeconds(delta, tool) * 1000;
    return new Cost(backend.name(), n, "pool gauge refresh", 1, commandMillis,
        DriverMeters.commandsByVerb(delta, tool), commandMillis);
  }

  private static Map<String, Double> refreshes(Map<String, Double> metrics) {
    Map<String, Double> r = new TreeMap<>();
    metrics.forEach((k, v) -> {
      if (k.startsWith("pve_csi_pool_last_refresh_timestamp_seconds")) {
        r.put(k, v);
      }
    });
    return r;
  }

  // ---- target 4: the burst ------------------------------------------------------------------

  /** {@code inFlight} CreateVolumes at once on the backend's storage. */
  Burst burst(Backend backend, int inFlight) throws Exception {
    long writesBefore = leaseVersion();
    ExecutorService pool = Executors.newFixedThreadPool(inFlight);
    List<Future<String>> calls = new ArrayList<>();
    long start = System.nanoTime();
    try {
      for (int i = 0; i < inFlight; i++) {
        String name = "burst-" + UUID.randomUUID();
        calls.add(pool.submit(() -> create(backend, name, Duration.ofMinutes(10))));
      }
      int succeeded = 0;
      Map<String, Integer> failures = new TreeMap<>();
      List<String> made = new ArrayList<>();
      for (Future<String> call : calls) {
        try {
          made.add(call.get());
          succeeded++;
        } catch (java.util.concurrent.ExecutionException e) {
          Status status = e.getCause() instanceof StatusRuntimeException sre ? sre.getStatus()
              : Status.UNKNOWN.withDescription(String.valueOf(e.getCause()));
          failures.merge(status.getCode().name(), 1, Integer::sum);
          if (failures.get(status.getCode().name()) == 1) {
            out.println("burst: first " + status.getCode() + ": " + status.getDescription());
          }
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      long writes = leaseVersion() - writesBefore;
      Burst result = new Burst(backend.name(), inFlight, succeeded, failures, seconds, writes);
      out.print(burstTable(List.of(result))); // before the clean-up, which takes as long again
      made.forEach(this::delete);
      return result;
    } finally {
      pool.shutdownNow();
    }
  }

  /** The mock API server's resource version: it grows by one with every write. */
  private long leaseVersion() {
    return driver.leaseResourceVersions().values().stream().mapToLong(Long::longValue).max()
        .orElse(0);
  }

  // ---- the fixture --------------------------------------------------------------------------

  /** The volume name the driver gives CSI name {@code scale-<i>}, and that CSI name. */
  private static String csiName(int i) {
    return String.format(Locale.ROOT, NAME_PREFIX + "%05d", i);
  }

  private static String volname(Backend backend, int i) {
    return VolumeNames.volnameFor(csiName(i), 0,
        backend.format().equals("subvol") ? ImageFormat.SUBVOL : ImageFormat.RAW);
  }

  /** Volumes {@code from..to-1} with their snapshots, by argv in the guest. */
  void makeVolumes(Backend backend, int from, int to) {
    if (backend.isLvm()) {
      for (int i = from; i < to; i++) {
        String name = volname(backend, i);
        List<String> argv = new ArrayList<>(List.of("lvcreate", "-aly", "-V",
            (VOLUME_BYTES >> 10) + "k", "--name", name, "--thinpool", VG + "/"
                + VmHarness.THIN_POOL));
        for (String tag : LvTags.encode(VolumeMetadata.of(csiName(i)))) {
          argv.add("--addtag");
          argv.add(tag);
        }
        must(argv);
        for (int s = 1; s <= SNAPSHOTS_PER_VOLUME; s++) {
          List<String> snapshot = new ArrayList<>(List.of("lvcreate", "-n",
              "snap_" + name + "_s" + s, "-pr", "-s", VG + "/" + name));
          for (String tag : LvTags.encode(VolumeMetadata.of(csiName(i) + "-s" + s))) {
            snapshot.add("--addtag");
            snapshot.add(tag);
          }
          must(snapshot);
        }
      }
      return;
    }
    boolean dataset = backend.format().equals("subvol");
    for (int i = from; i < to; i++) {
      List<String> argv = new ArrayList<>(List.of("zfs", "create"));
      if (dataset) {
        argv.addAll(List.of("-o", "acltype=posixacl", "-o", "xattr=sa",
            "-o", "refquota=" + (VOLUME_BYTES >> 10) + "k"));
      } else {
        argv.addAll(List.of("-s", "-V", (VOLUME_BYTES >> 10) + "k"));
      }
      argv.addAll(List.of("-o", "pve-storage.csi.io:csi-name=" + csiName(i),
          POOL + "/" + volname(backend, i)));
      must(argv);
    }
    for (int s = 1; s <= SNAPSHOTS_PER_VOLUME; s++) {
      // ListSnapshots lists CSI snapshots only: the snapshot CSI name makes them the driver's.
      // One command takes a whole round, so its snapshots share that name (the listing does
      // not mind; CreateSnapshot's name lookup, not measured here, would).
      List<String> argv = new ArrayList<>(List.of("zfs", "snapshot", "-o",
          "pve-storage.csi.io:snapshot-csi-name=" + NAME_PREFIX + "round-" + s));
      for (int i = from; i < to; i++) {
        argv.add(POOL + "/" + volname(backend, i) + "@s" + s);
      }
      must(argv);
    }
  }

  /** Removes every volume the fixture made on the backend (with their snapshots). */
  void removeFixture(Backend backend) {
    if (backend.isLvm()) {
      // one lvremove for all: selected by the CSI name the fixture gave (snapshots by name)
      must(List.of("lvremove", "-f", "--select",
          "lv_name=~\"^(snap_)?vm-0-" + NAME_PREFIX + "\"", VG));
      return;
    }
    String prefix = POOL + "/" + (backend.format().equals("subvol") ? "subvol" : "vm") + "-0-"
        + NAME_PREFIX;
    for (String line : must(List.of("zfs", "list", "-H", "-o", "name", "-d", "1", "-t",
        "filesystem,volume", POOL)).stdoutText().split("\n")) {
      if (line.startsWith(prefix)) {
        CommandResult removed = guest.run(cmd(List.of("zfs", "destroy", "-r", line)));
        for (int attempt = 1; removed.exitCode() != 0 && attempt < 5; attempt++) {
          RpcBenchmark.sleep(250L * attempt); // udev may still probe a new zvol ("dataset is busy")
          removed = guest.run(cmd(List.of("zfs", "destroy", "-r", line)));
        }
      }
    }
  }

  private CommandResult must(List<String> argv) {
    CommandResult result = guest.run(cmd(argv));
    if (result.exitCode() != 0) {
      throw new IllegalStateException("in the guest: " + String.join(" ", argv) + " exited "
          + result.exitCode() + ": " + result.stderrText().strip());
    }
    return result;
  }

  private static Command cmd(List<String> argv) {
    return Command.of(COMMAND_TIMEOUT, argv);
  }

  // ---- calls --------------------------------------------------------------------------------

  private String create(Backend backend, String name, Duration deadline) {
    VolumeCapability.Builder capability = VolumeCapability.newBuilder()
        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
            .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER));
    capability = backend.format().equals("subvol")
        ? capability.setMount(VolumeCapability.MountVolume.newBuilder().setFsType("zfs"))
        : capability.setBlock(VolumeCapability.BlockVolume.getDefaultInstance());
    return controller.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .createVolume(CreateVolumeRequest.newBuilder().setName(name)
            .addVolumeCapabilities(capability)
            .putParameters("storage", backend.storage())
            .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(VOLUME_BYTES))
            .build())
        .getVolume().getVolumeId();
  }

  private void delete(String id) {
    controller.withDeadlineAfter(5, TimeUnit.MINUTES)
        .deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
  }

  /** IDs of the backend's fixture volumes or snapshots among {@code ids}. */
  private static int count(List<String> ids, Backend backend) {
    String prefix = backend.storage() + ":" + (backend.format().equals("subvol") ? "subvol" : "vm")
        + "-0-" + NAME_PREFIX;
    return (int) ids.stream().filter(id -> id.startsWith(prefix)).count();
  }

  private static void expectAtLeast(int expected, int got, String what) {
    if (got < expected) {
      throw new IllegalStateException(what + ": " + got + ", expected " + expected);
    }
  }

  private Map<String, Double> metrics() {
    return DriverMeters.parse(driver.scrapeMetrics());
  }

  private static Map<String, Double> divide(Map<String, Double> counts, int by) {
    Map<String, Double> result = new TreeMap<>();
    counts.forEach((k, v) -> result.put(k, v / by));
    return result;
  }

  // ---- tables -------------------------------------------------------------------------------

  static String costTable(List<Cost> costs) {
    StringBuilder out = new StringBuilder();
    for (Cost c : costs) {
      StringBuilder verbs = new StringBuilder();
      c.commands().forEach((verb, count) -> verbs.append(String.format(Locale.ROOT, "%s %.2f, ",
          verb, count)));
      out.append(String.format(Locale.ROOT, "%-8s N=%-5d %-34s %8.0f ms  %5.2f cmds/call"
              + " %7.0f ms in them  %s%n", c.backend(), c.n(), c.call(), c.millis(),
          c.commandCount(), c.commandMillis(),
          verbs.isEmpty() ? "-" : verbs.substring(0, verbs.length() - 2)));
    }
    return out.toString();
  }

  static String burstTable(List<Burst> bursts) {
    StringBuilder out = new StringBuilder();
    for (Burst b : bursts) {
      out.append(String.format(Locale.ROOT, "burst %-8s %d CreateVolumes in flight: %d succeeded"
              + "%s, %.1f s, %.2f volumes/s, %d Lease writes%n", b.backend(), b.inFlight(),
          b.succeeded(), b.failures().isEmpty() ? "" : " (failed: " + b.failures() + ")",
          b.seconds(), b.succeeded() / b.seconds(), b.leaseWrites()));
    }
    return out.toString();
  }
}
