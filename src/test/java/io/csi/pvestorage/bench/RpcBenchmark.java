package io.csi.pvestorage.bench;

import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeGrpc;
import csi.v1.VolumeCapability;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.VmHarness;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every storage RPC of the driver against the command sequence Proxmox VE's own plugin runs for
 * the same operation (issue 16, target 1; the sequences and where each comes from are in
 * docs/performance.md), side by side in one VM boot. Not a test.
 *
 * <p>Per operation and backend (LVM-thin, zvol, dataset): {@code n} driver RPCs over gRPC to
 * {@code serve} in the guest (Lease lock on the fabric8 mock API server on the host), one after
 * another, and {@code n} runs of the PVE sequence as argv in the guest through the harness agent,
 * one after another; volumes of 64 MiB. What an operation needs first (a volume, a snapshot) is
 * made before its timed batch and what it leaves is removed after it, so that the driver's
 * meters, read before and after the batch, count only the timed calls' commands. The pool
 * gauges' refresh is set to an hour for that reason (production: 30 s). CreateVolume (empty) is
 * also run with 20 in flight against the sequence's rate one after another.
 *
 * <pre>
 * mvn -B -o -q -DskipTests package dependency:build-classpath \
 *     -Dmdep.includeScope=test -Dmdep.outputFile=target/test-classpath.txt
 * java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
 *     io.csi.pvestorage.bench.RpcBenchmark [n, default 10] [lvmthin|zvol|dataset ...]
 * </pre>
 *
 * <p>Columns: medians in ms, their ratio (driver / PVE), the driver's commands per call (from
 * {@code pve_csi_storage_command_duration_seconds_count}) against the sequence's, and the
 * driver's time in its own commands (from the same histogram's sum), so that the driver's own
 * cost over the commands it runs can be read off. Both sides cross the host/guest boundary:
 * the driver once per call (the forwarded port), the sequence once per command (the agent,
 * about 30 ms each under TCG); PVE's own check for the zvol link is a {@code stat} in Perl, run
 * here as {@code test -b}.
 */
public final class RpcBenchmark {

  static final long BYTES = 64L << 20;
  private static final long KIB = BYTES / 1024;
  private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(5);
  private static final String VG = VmHarness.VG;
  private static final String POOL = VmHarness.ZFS_DATASET;
  private static final int BURST = 20;

  /** The operations, in the order they are measured and printed. */
  enum Operation {
    CREATE("CreateVolume"),
    CREATE_FROM_SNAPSHOT("CreateVolume from snapshot"),
    CREATE_CLONE("CreateVolume clone"),
    DELETE("DeleteVolume"),
    DELETE_WITH_SNAPSHOT("DeleteVolume with snapshot"),
    CREATE_SNAPSHOT("CreateSnapshot"),
    DELETE_SNAPSHOT("DeleteSnapshot"),
    EXPAND("NodeExpandVolume");

    final String label;

    Operation(String label) {
      this.label = label;
    }
  }

  /**
   * One line of the table.
   *
   * @param driverMillis medians of the driver's RPC, ms
   * @param pveMillis median of the PVE sequence, ms
   * @param driverCommands the driver's commands per call, by verb
   * @param driverCommandMillis the driver's time in its commands per call, ms
   * @param pveCommands commands per run of the sequence
   */
  record Row(Operation operation, String backend, double driverMillis, double pveMillis,
      Map<String, Double> driverCommands, double driverCommandMillis, double pveCommands) {

    double ratio() {
      return driverMillis / pveMillis;
    }

    double driverCommandCount() {
      return driverCommands.values().stream().mapToDouble(Double::doubleValue).sum();
    }
  }

  /** The burst line: driver volumes/s with 20 in flight, the sequence's one after another. */
  record Burst(String backend, double driverPerSecond, double pvePerSecond) {}

  private final GuestDriver driver;
  private final GuestCommandRunner guest;
  private final ControllerGrpc.ControllerBlockingStub controller;
  private final NodeGrpc.NodeBlockingStub node;
  private int counter;

  RpcBenchmark(GuestDriver driver) {
    this.driver = driver;
    this.guest = driver.guest();
    this.controller = ControllerGrpc.newBlockingStub(driver.channel());
    this.node = NodeGrpc.newBlockingStub(driver.channel());
  }

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    List<Backend> backends = backends(Arrays.asList(args).subList(Math.min(1, args.length),
        args.length));
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults());
        GuestDriver driver = start(vm)) {
      RpcBenchmark bench = new RpcBenchmark(driver);
      bench.warmUp(backends);
      List<Row> rows = new ArrayList<>();
      List<Burst> bursts = new ArrayList<>();
      for (Backend backend : backends) {
        for (Operation operation : Operation.values()) {
          rows.add(bench.measure(operation, backend, n));
          System.out.print(table(n, List.of(rows.getLast()), List.of())); // as it goes
        }
        bursts.add(bench.burst(backend, n));
        System.out.print(table(n, List.of(), List.of(bursts.getLast())));
      }
      System.out.println(table(n, rows, bursts));
      System.out.println("Leases in the mock API server: " + driver.leaseNames());
    }
  }

  /** The driver as the benchmark runs it: Lease lock, pool gauges refreshed hourly. */
  static GuestDriver start(VmHarness vm) throws InterruptedException {
    return GuestDriver.start(vm, 10_530, GuestDriver.LockMode.LEASE, Duration.ofHours(1));
  }

  static List<Backend> backends(List<String> names) {
    List<Backend> all = List.of(Backend.LVM_THIN, Backend.ZFS_ZVOL, Backend.ZFS_DATASET);
    if (names.isEmpty()) {
      return all;
    }
    List<Backend> chosen = names.stream() // in the order given
        .flatMap(n -> all.stream().filter(b -> b.name().equals(n))).toList();
    if (chosen.size() != names.size()) {
      throw new IllegalArgumentException(names + ": backends are lvmthin, zvol, dataset");
    }
    return chosen;
  }

  /** One of each RPC and sequence per backend first: JIT, the first Lease, the guest's caches. */
  void warmUp(List<Backend> backends) {
    for (Backend backend : backends) {
      measure(Operation.CREATE, backend, 1);
      measure(Operation.DELETE_WITH_SNAPSHOT, backend, 1);
    }
  }

  // ---- one operation ------------------------------------------------------------------------

  /** {@code n} driver RPCs and {@code n} PVE sequences of one operation on one backend. */
  Row measure(Operation operation, Backend backend, int n) {
    DriverSide driverSide = new DriverSide(backend);
    PveSide pveSide = new PveSide(backend);
    List<Runnable> driverCalls = new ArrayList<>();
    List<List<Step>> sequences = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        driverCalls.add(driverSide.prepare(operation));
        sequences.add(pveSide.prepare(operation));
      }
      Map<String, Double> before = metrics();
      double[] driverMillis = new double[n];
      for (int i = 0; i < n; i++) {
        driverMillis[i] = timed(driverCalls.get(i));
      }
      Map<String, Double> delta = DriverMeters.delta(before, metrics());
      double[] pveMillis = new double[n];
      int pveCommands = 0;
      for (int i = 0; i < n; i++) {
        List<Step> sequence = sequences.get(i);
        int[] ran = new int[1];
        pveMillis[i] = timed(() -> {
          for (Step step : sequence) {
            ran[0] += step.run();
          }
        });
        pveCommands += ran[0];
      }
      Map<String, Double> byVerb = new TreeMap<>();
      DriverMeters.commandsByVerb(delta, verb -> true).forEach((verb, count) ->
          byVerb.put(verb, count / n));
      double commandSeconds = DriverMeters.commandSeconds(delta, verb -> true);
      return new Row(operation, backend.name(), median(driverMillis), median(pveMillis), byVerb,
          commandSeconds * 1000 / n, (double) pveCommands / n);
    } finally {
      driverSide.cleanUp();
      pveSide.cleanUp();
    }
  }

  /**
   * {@value #BURST} CreateVolumes in flight at once against the empty-create sequence run
   * {@code n} times one after another: volumes per second of each.
   */
  Burst burst(Backend backend, int n) throws Exception {
    DriverSide driverSide = new DriverSide(backend);
    PveSide pveSide = new PveSide(backend);
    try {
      List<Callable<Void>> calls = new ArrayList<>();
      for (int i = 0; i < BURST; i++) {
        Runnable call = driverSide.prepare(Operation.CREATE);
        calls.add(() -> {
          call.run();
          return null;
        });
      }
      ExecutorService pool = Executors.newFixedThreadPool(BURST);
      double driverSeconds;
      try {
        long start = System.nanoTime();
        for (Future<Void> f : pool.invokeAll(calls)) {
          f.get();
        }
        driverSeconds = (System.nanoTime() - start) / 1e9;
      } finally {
        pool.shutdownNow();
      }
      List<List<Step>> sequences = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        sequences.add(pveSide.prepare(Operation.CREATE));
      }
      double pveMillis = timed(() -> sequences.forEach(s -> s.forEach(Step::run)));
      return new Burst(backend.name(), BURST / driverSeconds, n / (pveMillis / 1000));
    } finally {
      driverSide.cleanUp();
      pveSide.cleanUp();
    }
  }

  // ---- the driver's side --------------------------------------------------------------------

  /** RPCs of one backend; remembers what it made so that {@link #cleanUp} removes it. */
  private final class DriverSide {
    private final Backend backend;
    private final List<String> volumes = Collections.synchronizedList(new ArrayList<>());
    private final List<String> snapshots = new ArrayList<>();
    /** The source of restores, clones and snapshots, made on first use. */
    private String source;
    private String sourceSnapshot;

    DriverSide(Backend backend) {
      this.backend = backend;
    }

    /** Makes what {@code operation} needs; returns the timed call. */
    Runnable prepare(Operation operation) {
      return switch (operation) {
        case CREATE -> () -> volumes.add(create(VolumeContentSource.getDefaultInstance()));
        case CREATE_FROM_SNAPSHOT -> {
          VolumeContentSource from = VolumeContentSource.newBuilder().setSnapshot(
              VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(sourceSnapshot()))
              .build();
          yield () -> volumes.add(create(from));
        }
        case CREATE_CLONE -> {
          VolumeContentSource from = VolumeContentSource.newBuilder().setVolume(
              VolumeContentSource.VolumeSource.newBuilder().setVolumeId(source())).build();
          yield () -> volumes.add(create(from));
        }
        case DELETE -> {
          String id = create(VolumeContentSource.getDefaultInstance());
          yield () -> deleteVolume(id);
        }
        case DELETE_WITH_SNAPSHOT -> {
          String id = create(VolumeContentSource.getDefaultInstance());
          snapshots.add(snapshot(id));
          yield () -> deleteVolume(id);
        }
        case CREATE_SNAPSHOT -> {
          String of = source();
          yield () -> snapshots.add(snapshot(of));
        }
        case DELETE_SNAPSHOT -> {
          String id = snapshot(source());
          yield () -> controller.withDeadlineAfter(5, TimeUnit.MINUTES).deleteSnapshot(
              DeleteSnapshotRequest.newBuilder().setSnapshotId(id).build());
        }
        case EXPAND -> {
          String id = create(VolumeContentSource.getDefaultInstance());
          volumes.add(id);
          String path = driver.workDir() + "/expand-" + (++counter);
          driver.must("touch", path);
          NodeExpandVolumeRequest request = NodeExpandVolumeRequest.newBuilder()
              .setVolumeId(id).setVolumePath(path)
              .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(2 * BYTES))
              .setVolumeCapability(capability()).build();
          yield () -> node.withDeadlineAfter(5, TimeUnit.MINUTES).nodeExpandVolume(request);
        }
      };
    }

    private String source() {
      if (source == null) {
        source = create(VolumeContentSource.getDefaultInstance());
      }
      return source;
    }

    private String sourceSnapshot() {
      if (sourceSnapshot == null) {
        sourceSnapshot = snapshot(source());
      }
      return sourceSnapshot;
    }

    private String create(VolumeContentSource from) {
      CreateVolumeRequest.Builder request = CreateVolumeRequest.newBuilder()
          .setName("bench-" + UUID.randomUUID())
          .addVolumeCapabilities(capability())
          .putParameters("storage", backend.storage())
          .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(BYTES));
      if (from.hasSnapshot() || from.hasVolume()) {
        request.setVolumeContentSource(from);
      }
      return controller.withDeadlineAfter(5, TimeUnit.MINUTES).createVolume(request.build())
          .getVolume().getVolumeId();
    }

    private VolumeCapability capability() {
      VolumeCapability.Builder capability = VolumeCapability.newBuilder()
          .setAccessMode(VolumeCapability.AccessMode.newBuilder()
              .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER));
      return backend.format().equals("subvol")
          ? capability.setMount(VolumeCapability.MountVolume.newBuilder().setFsType("zfs")).build()
          : capability.setBlock(VolumeCapability.BlockVolume.getDefaultInstance()).build();
    }

    private String snapshot(String volumeId) {
      return controller.withDeadlineAfter(5, TimeUnit.MINUTES).createSnapshot(
          CreateSnapshotRequest.newBuilder().setName("bench-snap-" + UUID.randomUUID())
              .setSourceVolumeId(volumeId).build()).getSnapshot().getSnapshotId();
    }

    private void deleteVolume(String id) {
      controller.withDeadlineAfter(5, TimeUnit.MINUTES)
          .deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
    }

    /** Volumes first (restores and clones of the source), then snapshots, then the source. */
    void cleanUp() {
      for (String id : List.copyOf(volumes)) {
        deleteVolume(id);
      }
      List<String> allSnapshots = new ArrayList<>(snapshots);
      if (sourceSnapshot != null) {
        allSnapshots.add(sourceSnapshot);
      }
      for (String id : allSnapshots) {
        controller.withDeadlineAfter(5, TimeUnit.MINUTES).deleteSnapshot(
            DeleteSnapshotRequest.newBuilder().setSnapshotId(id).build());
      }
      if (source != null) {
        deleteVolume(source);
      }
    }
  }

  // ---- PVE's side ---------------------------------------------------------------------------

  /** One step of a sequence: runs its command(s) in the guest and says how many it ran. */
  @FunctionalInterface
  interface Step {
    int run();
  }

  /**
   * PVE's command sequences of one backend, as docs/performance.md lists them (the plugin
   * methods of pve-storage 9.1.7, the volume name given as the driver gives it).
   */
  private final class PveSide {
    private final Backend backend;
    private final boolean lvm;
    private final boolean dataset;
    /** Datasets (with {@code -r}) or LVs this side made, removed by {@link #cleanUp}. */
    private final List<String> made = new ArrayList<>();
    private String source;
    private String sourceSnapshot;

    PveSide(Backend backend) {
      this.backend = backend;
      this.lvm = backend.name().equals("lvmthin");
      this.dataset = backend.format().equals("subvol");
    }

    private String newName() {
      String name = (dataset ? "subvol" : "vm") + "-9002-disk-" + (++counter);
      made.add(name);
      return name;
    }

    List<Step> prepare(Operation operation) {
      return switch (operation) {
        case CREATE -> allocImage(newName());
        case CREATE_FROM_SNAPSHOT -> cloneImage(source(), sourceSnapshot(), newName());
        case CREATE_CLONE -> {
          String snap = "c" + (++counter);
          List<Step> steps = new ArrayList<>(volumeSnapshot(source(), snap));
          steps.addAll(cloneImage(source(), snap, newName()));
          if (lvm) {
            // Thin snapshots are independent of their clones: PVE could remove it again. A ZFS
            // snapshot with a clone cannot be destroyed (PVE's delete would fail), so it stays.
            steps.add(one(lvremove(snapLv(source(), snap))));
          }
          yield steps;
        }
        case DELETE -> {
          String name = newName();
          allocImage(name).forEach(Step::run);
          made.remove(name);
          yield freeImage(name);
        }
        case DELETE_WITH_SNAPSHOT -> {
          String name = newName();
          allocImage(name).forEach(Step::run);
          volumeSnapshot(name, "s1").forEach(Step::run);
          made.remove(name);
          yield freeImage(name);
        }
        case CREATE_SNAPSHOT -> volumeSnapshot(source(), "s" + (++counter));
        case DELETE_SNAPSHOT -> {
          String snap = "s" + (++counter);
          volumeSnapshot(source(), snap).forEach(Step::run);
          yield List.of(one(lvm ? lvremove(snapLv(source(), snap))
              : zfs("destroy", POOL + "/" + source() + "@" + snap)));
        }
        case EXPAND -> {
          String name = newName();
          allocImage(name).forEach(Step::run);
          String size = 2 * KIB + "k";
          yield List.of(one(lvm ? cmd("lvextend", "-L", size, "/dev/" + VG + "/" + name)
              : zfs("set", (dataset ? "refquota=" : "volsize=") + size, POOL + "/" + name)));
        }
      };
    }

    private String source() {
      if (source == null) {
        source = newName();
        allocImage(source).forEach(Step::run);
      }
      return source;
    }

    private String sourceSnapshot() {
      if (sourceSnapshot == null) {
        sourceSnapshot = "base";
        volumeSnapshot(source(), sourceSnapshot).forEach(Step::run);
      }
      return sourceSnapshot;
    }

    /** alloc_image (2.3): LVM-thin vgs, lvcreate, lvchange; zvol create and link wait. */
    private List<Step> allocImage(String name) {
      if (lvm) {
        return List.of(one(vgs()),
            one(cmd("lvcreate", "-aly", "-V", KIB + "k", "--name", name,
                "--thinpool", VG + "/" + VmHarness.THIN_POOL)),
            one(cmd("lvchange", "--setautoactivation", "n", VG + "/" + name)));
      }
      if (dataset) {
        return List.of(one(zfs("create", "-o", "acltype=posixacl", "-o", "xattr=sa",
            "-o", "refquota=" + KIB + "k", POOL + "/" + name)));
      }
      return List.of(one(zfs("create", "-s", "-V", KIB + "k", POOL + "/" + name)),
          () -> awaitLink(name));
    }

    /**
     * clone_image with a snapshot (2.6): the name search's listing, then the clone; a dataset
     * also reads the source's refquota. PVE does not wait for the zvol link here.
     */
    private List<Step> cloneImage(String from, String snap, String name) {
      if (lvm) {
        return List.of(one(lvs()),
            one(cmd("lvcreate", "-n", name, "-prw", "-kn", "-s", VG + "/" + snapLv(from, snap))),
            one(cmd("lvchange", "--setautoactivation", "n", VG + "/" + name)));
      }
      Step list = one(zfs("list", "-o", "name,volsize,origin,type,refquota",
          "-t", "volume,filesystem", "-d1", "-Hp", POOL));
      String origin = POOL + "/" + from + "@" + snap;
      if (!dataset) {
        return List.of(list, one(zfs("clone", origin, POOL + "/" + name)));
      }
      String[] quota = new String[1];
      return List.of(list, () -> {
        quota[0] = mustRun(zfs("get", "-o", "value", "-Hp", "refquota", POOL + "/" + from))
            .stdoutText().strip();
        return 1;
      }, () -> {
        mustRun(zfs("clone", origin, POOL + "/" + name, "-o",
            "refquota=" + (quota[0].equals("0") ? "none" : quota[0])));
        return 1;
      });
    }

    /** volume_snapshot (2.7); a dataset also records its refquota on the snapshot. */
    private List<Step> volumeSnapshot(String name, String snap) {
      if (lvm) {
        return List.of(one(cmd("lvcreate", "-n", snapLv(name, snap), "-pr", "-s",
            VG + "/" + name)));
      }
      Step take = one(zfs("snapshot", POOL + "/" + name + "@" + snap));
      if (!dataset) {
        return List.of(take);
      }
      return List.of(take, () -> {
        String quota = mustRun(zfs("get", "-o", "value", "-Hp", "refquota", POOL + "/" + name))
            .stdoutText().strip();
        mustRun(zfs("set", "pve-storage:refquota=" + quota, POOL + "/" + name + "@" + snap));
        return 2;
      });
    }

    /** free_image (2.4): LVM-thin lists the VG and removes the snapshots, then the volume. */
    private List<Step> freeImage(String name) {
      if (!lvm) {
        return List.of(one(zfs("destroy", "-r", POOL + "/" + name)));
      }
      return List.of(() -> {
        String listing = mustRun(lvs()).stdoutText();
        int ran = 1;
        Pattern snapshot = Pattern.compile("^\\s*" + Pattern.quote(VG) + ":(snap_"
            + Pattern.quote(name) + "_[a-z][a-z0-9_-]+):", Pattern.CASE_INSENSITIVE
            | Pattern.MULTILINE);
        Matcher m = snapshot.matcher(listing);
        List<String> snaps = new ArrayList<>();
        while (m.find()) {
          snaps.add(m.group(1));
        }
        for (String lv : snaps) {
          mustRun(lvremove(lv));
          ran++;
        }
        if (listing.contains(VG + ":" + name + ":")) {
          mustRun(lvremove(name));
          ran++;
        }
        return ran;
      });
    }

    /** PVE's link wait: look at once, then once a second. */
    private int awaitLink(String name) {
      Command test = cmd("test", "-b", "/dev/zvol/" + POOL + "/" + name);
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      for (int ran = 1; ; ran++) {
        if (guest.run(test).exitCode() == 0) {
          return ran;
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("no zvol link for " + name + " after 2 min");
        }
        sleep(1000);
      }
    }

    void cleanUp() {
      List<String> names = new ArrayList<>(made);
      Collections.reverse(names); // clones before their source
      for (String name : names) {
        Command remove = lvm ? lvremove(name) : zfs("destroy", "-r", POOL + "/" + name);
        CommandResult removed = guest.run(remove);
        for (int attempt = 1; removed.exitCode() != 0 && attempt < 5; attempt++) {
          sleep(250L * attempt); // udev may still probe a new zvol ("dataset is busy")
          removed = guest.run(remove);
        }
      }
      if (lvm) {
        // snapshot LVs of this side's volumes that a step left (CreateSnapshot's)
        for (String line : mustRun(lvs()).stdoutText().split("\n")) {
          String[] fields = line.strip().split(":");
          if (fields.length > 1 && fields[1].startsWith("snap_vm-9002-")) {
            guest.run(lvremove(fields[1]));
          }
        }
      }
    }
  }

  private Step one(Command command) {
    return () -> {
      mustRun(command);
      return 1;
    };
  }

  private CommandResult mustRun(Command command) {
    CommandResult result = guest.run(command);
    if (result.exitCode() != 0) {
      throw new IllegalStateException("in the guest: " + String.join(" ", command.argv())
          + " exited " + result.exitCode() + ": " + result.stderrText().strip());
    }
    return result;
  }

  private static Command cmd(String... argv) {
    return Command.of(COMMAND_TIMEOUT, argv);
  }

  private static Command zfs(String... args) {
    List<String> argv = new ArrayList<>(List.of("zfs"));
    argv.addAll(List.of(args));
    return Command.of(COMMAND_TIMEOUT, argv);
  }

  /** lvm_vgs (2.1). */
  private static Command vgs() {
    return cmd("vgs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered",
        "--nosuffix", "--options", "vg_name,vg_size,vg_free,lv_count");
  }

  /** lvm_list_volumes($vg) (2.1). */
  private static Command lvs() {
    return cmd("lvs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered",
        "--nosuffix", "--config", "report/time_format=\"%s\"", "--options",
        "vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,"
            + "uuid,tags,metadata_size,time", VG);
  }

  private static Command lvremove(String lv) {
    return cmd("lvremove", "-f", VG + "/" + lv);
  }

  private static String snapLv(String volume, String snap) {
    return "snap_" + volume + "_" + snap;
  }

  // ---- meters and numbers -------------------------------------------------------------------

  /** The driver's meters now, sample (name and labels) to value. */
  private Map<String, Double> metrics() {
    return DriverMeters.parse(driver.scrapeMetrics());
  }

  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int mid = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  private static double timed(Runnable action) {
    long start = System.nanoTime();
    action.run();
    return (System.nanoTime() - start) / 1e6;
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The printed table: one line per operation and backend, then the burst lines. */
  static String table(int n, List<Row> rows, List<Burst> bursts) {
    StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
        "RPC benchmark: %d calls each, sequential, %d MiB volumes, medians in ms%n", n,
        BYTES >> 20));
    out.append(String.format(Locale.ROOT, "%-27s %-8s %9s %9s %6s %9s %6s %8s  %s%n",
        "operation", "backend", "driver", "PVE", "ratio", "cmds drv", "PVE", "drv cmd",
        "driver commands per call"));
    for (Row row : rows) {
      StringBuilder verbs = new StringBuilder();
      row.driverCommands().forEach((verb, count) -> verbs.append(String.format(Locale.ROOT,
          "%s %.2f, ", verb, count)));
      out.append(String.format(Locale.ROOT, "%-27s %-8s %9.0f %9.0f %6.2f %9.2f %6.2f %8.0f  %s%n",
          row.operation().label, row.backend(), row.driverMillis(), row.pveMillis(), row.ratio(),
          row.driverCommandCount(), row.pveCommands(), row.driverCommandMillis(),
          verbs.isEmpty() ? "-" : verbs.substring(0, verbs.length() - 2)));
    }
    for (Burst burst : bursts) {
      out.append(String.format(Locale.ROOT,
          "CreateVolume, %d in flight, %s: driver %.2f volumes/s, PVE sequence one after another"
              + " %.2f volumes/s (%.2f x)%n", BURST, burst.backend(), burst.driverPerSecond(),
          burst.pvePerSecond(), burst.driverPerSecond() / burst.pvePerSecond()));
    }
    return out.toString();
  }
}
