package io.csi.pvestorage.bench;

import csi.v1.ControllerGrpc;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.lvmthin.LvTags;
import io.csi.pvestorage.storage.lvmthin.LvmCommands;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CreateVolume through the driver against the bare storage command, side by side in one VM run:
 * (a) the {@code lvcreate} / {@code zfs create -V} argv the plugins build, run in the guest
 * through the harness agent, and (b) CreateVolume over gRPC to {@code serve} in the guest (Lease
 * lock on the fabric8 mock API server on the host, or the local lock when Leases cannot be
 * reached), each for 1 and for 20 requests in flight. Prints median and p90 latency per volume,
 * volumes per second, and the driver's overhead over the raw command. Not a test.
 *
 * <pre>
 * mvn -B -o -q -DskipTests package dependency:build-classpath \
 *     -Dmdep.includeScope=test -Dmdep.outputFile=target/test-classpath.txt
 * java -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
 *     io.csi.pvestorage.bench.CreateVolumeBenchmark [volumes per cell, default 20] [lvmthin|zvol]
 * </pre>
 *
 * <p>Both sides cross the host/guest boundary once per volume (agent round trip for (a), the
 * forwarded TCP port for (b)); the driver additionally lists the pool, takes the lock and runs a
 * second command (LVM: {@code lvchange --setautoactivation n}; ZFS: waits for the zvol link).
 */
public final class CreateVolumeBenchmark {

  private static final long BYTES = 64L << 20;
  private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(5);
  private static final int[] IN_FLIGHT = {1, 20};
  /** The driver's default: one pool listing per storage every 30 s. */
  private static final Duration POOL_REFRESH = Duration.ofSeconds(30);

  private record Backend(String name, String storage) {}

  private static final List<Backend> BACKENDS = List.of(
      new Backend("lvmthin", GuestDriver.LVM_STORAGE), new Backend("zvol", GuestDriver.ZFS_STORAGE));

  /** Latencies in ms of one cell, and its wall time. */
  private record Cell(double[] millis, double wallSeconds) {
    double percentile(double p) {
      double[] sorted = millis.clone();
      Arrays.sort(sorted);
      int rank = (int) Math.ceil(p / 100.0 * sorted.length);
      return sorted[Math.max(0, rank - 1)];
    }

    double throughput() {
      return millis.length / wallSeconds;
    }
  }

  private final VmHarness vm;
  private final GuestDriver driver;
  private int counter;
  /** What {@link #breakdown} said about the last driver cell. */
  private String lastBreakdown = "";

  private CreateVolumeBenchmark(VmHarness vm, GuestDriver driver) {
    this.vm = vm;
    this.driver = driver;
  }

  public static void main(String[] args) throws Exception {
    int volumes = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    List<Backend> backends = args.length > 1
        ? BACKENDS.stream().filter(b -> b.name().equals(args[1])).toList() : BACKENDS;
    if (backends.isEmpty()) {
      throw new IllegalArgumentException("backend '" + args[1] + "' is not one of lvmthin, zvol");
    }
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults())) {
      GuestDriver driver = GuestDriver.start(vm, 10_500, GuestDriver.LockMode.LEASE, POOL_REFRESH);
      String lock = "lease (fabric8 mock API server on the host, reached from the guest at "
          + GuestDriver.HOST_FROM_GUEST + ")";
      try {
        new CreateVolumeBenchmark(vm, driver).warmUp();
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != io.grpc.Status.Code.ABORTED) {
          throw e; // not the lock: the driver or the guest is gone
        }
        System.out.println("CreateVolume with the Lease lock failed (" + e.getStatus()
            + "); measuring with the local lock instead");
        driver.close();
        driver = GuestDriver.start(vm, 10_501, GuestDriver.LockMode.LOCAL, POOL_REFRESH);
        lock = "local (Leases unreachable)";
        new CreateVolumeBenchmark(vm, driver).warmUp();
      }
      try (GuestDriver d = driver) {
        new CreateVolumeBenchmark(vm, d).run(volumes, lock, backends);
        if (d.lockMode() == GuestDriver.LockMode.LEASE) {
          System.out.println("Leases in the mock API server after the run: " + d.leaseNames());
        }
      }
    }
  }

  /**
   * A few volumes through both paths before measuring: the driver's JIT and first Lease, the
   * guest's lvm and zfs caches. Throws if CreateVolume fails (e.g. the Lease cannot be reached).
   */
  private void warmUp() throws Exception {
    for (Backend backend : BACKENDS) {
      raw(backend, 1, 2, false);
      raw(backend, 1, 2, true);
      driver(backend, 1, 3);
    }
  }

  private void run(int volumes, String lock, List<Backend> backends) throws Exception {
    System.out.printf(Locale.ROOT, "CreateVolume benchmark: %d volumes of %d MiB per cell, lock %s%n",
        volumes, BYTES >> 20, lock);
    System.out.printf(Locale.ROOT, "%-8s %-9s %-7s %12s %12s %10s %14s%n",
        "backend", "in-flight", "path", "median ms", "p90 ms", "vol/s",
        "overhead(med) vs raw / vs seq");
    for (Backend backend : backends) {
      for (int inFlight : IN_FLIGHT) {
        Cell raw = raw(backend, inFlight, volumes, false);
        Cell sequence;
        try {
          sequence = raw(backend, inFlight, volumes, true);
        } catch (ExecutionException e) {
          // Reported, not fatal: the driver's cell still says what it costs against raw.
          System.out.println("seq cell failed: " + e.getCause());
          sequence = null;
        }
        Cell csi = driver(backend, inFlight, volumes);
        print(backend, inFlight, "raw", raw, "");
        if (sequence != null) {
          print(backend, inFlight, "seq", sequence, "");
        }
        double overRaw = (csi.percentile(50) - raw.percentile(50)) / raw.percentile(50) * 100;
        String overSequence = sequence == null ? "n/a" : String.format(Locale.ROOT, "%+.1f %%",
            (csi.percentile(50) - sequence.percentile(50)) / sequence.percentile(50) * 100);
        print(backend, inFlight, "driver", csi, String.format(Locale.ROOT,
            "%+.1f %% / %s", overRaw, overSequence));
        System.out.println("         " + lastBreakdown);
      }
    }
  }

  /** The driver's meters now, sample (name and labels) to value; empty if not scrapable. */
  private Map<String, Double> metrics() {
    Map<String, Double> samples = new HashMap<>();
    try {
      for (String line : driver.scrapeMetrics().split("\n")) {
        int space = line.lastIndexOf(' ');
        if (!line.startsWith("#") && space > 0) {
          samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
        }
      }
    } catch (RuntimeException e) {
      System.out.println("metrics not readable: " + e.getMessage());
    }
    return samples;
  }

  /**
   * Where the driver's time went in one cell, from its own meters (means per volume, server
   * side, the DeleteVolume calls after the cell excluded): the CreateVolume handler, the wait
   * for the lock, each command verb with its calls per volume; and the Lease acquisitions for
   * the cell. The pool gauges' refresh (one listing per storage every 30 s) is counted too.
   */
  private static String breakdown(Map<String, Double> before, Map<String, Double> after,
      int volumes) {
    Map<String, Double> delta = new TreeMap<>();
    after.forEach((key, value) -> {
      double d = value - before.getOrDefault(key, 0.0);
      if (d != 0) {
        delta.put(key, d);
      }
    });
    double rpc = sum(delta, "pve_csi_rpc_duration_seconds_sum{", "method=\"CreateVolume\"");
    double wait = sum(delta, "pve_csi_lock_wait_seconds_sum{", "");
    double acquisitions = sum(delta, "pve_csi_lock_acquisitions_total{", "");
    Map<String, Double> byVerb = new TreeMap<>();
    Map<String, Double> callsByVerb = new TreeMap<>();
    delta.forEach((key, value) -> {
      Matcher verb = VERB.matcher(key);
      String name = verb.find() ? verb.group(1) : "?";
      if (key.startsWith("pve_csi_storage_command_duration_seconds_sum{")) {
        byVerb.merge(name, value, Double::sum);
      } else if (key.startsWith("pve_csi_storage_command_duration_seconds_count{")) {
        callsByVerb.merge(name, value, Double::sum);
      }
    });
    StringBuilder text = new StringBuilder(String.format(Locale.ROOT,
        "driver side, ms per volume: CreateVolume %.0f = lock wait %.0f", rpc * 1000 / volumes,
        wait * 1000 / volumes));
    double commands = 0;
    for (Map.Entry<String, Double> verb : byVerb.entrySet()) {
      text.append(String.format(Locale.ROOT, " + %s %.0f (%.2f calls)", verb.getKey(),
          verb.getValue() * 1000 / volumes,
          callsByVerb.getOrDefault(verb.getKey(), 0.0) / volumes));
      commands += verb.getValue();
    }
    text.append(String.format(Locale.ROOT, " + rest %.0f; Lease acquisitions: %.0f",
        (rpc - wait - commands) * 1000 / volumes, acquisitions));
    return text.toString();
  }

  private static final Pattern VERB = Pattern.compile("verb=\"([^\"]*)\"");

  private static double sum(Map<String, Double> samples, String prefix, String contains) {
    return samples.entrySet().stream()
        .filter(e -> e.getKey().startsWith(prefix) && e.getKey().contains(contains))
        .mapToDouble(Map.Entry::getValue).sum();
  }

  private static void print(Backend backend, int inFlight, String path, Cell cell, String overhead) {
    System.out.printf(Locale.ROOT, "%-8s %-9d %-7s %12.0f %12.0f %10.2f %14s%n", backend.name(),
        inFlight, path, cell.percentile(50), cell.percentile(90), cell.throughput(), overhead);
  }

  /**
   * The plugin's create argv run directly in the guest ({@code raw}), or ({@code sequence})
   * every command the driver runs for one CreateVolume, in its order: the listing, the create,
   * and the autoactivation switch (LVM) or the device-link check (ZFS). The
   * difference between the sequence and CreateVolume is the driver's own cost (gRPC, the Lease
   * lock, Java). The volumes are removed afterwards.
   */
  private Cell raw(Backend backend, int inFlight, int volumes, boolean sequence)
      throws Exception {
    List<String> names = new ArrayList<>();
    List<Callable<Double>> calls = new ArrayList<>();
    for (int i = 0; i < volumes; i++) {
      String name = "vm-9001-bench-" + (++counter);
      names.add(name);
      Command create = createCommand(backend, name, "bench-" + UUID.randomUUID());
      List<Command> commands = sequence ? sequence(backend, name, create) : List.of(create);
      calls.add(() -> timed(() -> commands.forEach(this::runUntilDone)));
    }
    try {
      return measure(calls, inFlight);
    } finally {
      for (String name : names) {
        remove(backend, name);
      }
    }
  }

  /** Removes a volume; udev may probe a new zvol for a moment ("dataset is busy"). */
  private void remove(Backend backend, String name) throws InterruptedException {
    Command remove = backend.name().equals("lvmthin")
        ? Command.of(COMMAND_TIMEOUT, "lvremove", "-f", VmHarness.VG + "/" + name)
        : Command.of(COMMAND_TIMEOUT, "zfs", "destroy", VmHarness.ZFS_DATASET + "/" + name);
    CommandResult removed = vm.runner().run(remove);
    for (int attempt = 1; removed.exitCode() != 0 && attempt < 5; attempt++) {
      Thread.sleep(250L * attempt);
      removed = vm.runner().run(remove);
    }
    if (removed.exitCode() != 0) {
      System.out.println("could not remove " + name + ": " + removed.stderrText().strip());
    }
  }

  /**
   * What the plugins run to create a volume: {@code LvmCommands.createThin} (with the CSI name
   * as a tag), and ZfsPoolPlugin's {@code zfs create -s -o <csi-name> -V <KiB>k} for the sparse
   * storage of the harness (the property is spelled out here because its constant is private
   * to the plugin's package).
   */
  private static Command createCommand(Backend backend, String name, String csiName) {
    if (backend.name().equals("lvmthin")) {
      return LvmCommands.createThin(VmHarness.VG, VmHarness.THIN_POOL, name, BYTES / 1024,
          LvTags.encode(VolumeMetadata.of(csiName)));
    }
    return Command.of(COMMAND_TIMEOUT, "zfs", "create", "-s",
        "-o", "pve-storage.csi.io:csi-name=" + csiName, "-V", BYTES / 1024 + "k",
        VmHarness.ZFS_DATASET + "/" + name);
  }

  /**
   * Runs one command of a sequence; the device-link check is repeated as the plugin does it
   * (after 25 ms, then twice as long each time, up to 1 s) until udev has made the link.
   */
  private void runUntilDone(Command command) {
    long pause = 25;
    // Longer than the plugin's 30 s: its creates are serialised by the lock, while 20 zvols
    // created here at once keep udev busy for more than 30 s under TCG.
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (true) {
      CommandResult result = vm.runner().run(command);
      if (result.exitCode() == 0 || !command.argv().getFirst().equals("test")) {
        result.requireSuccess();
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no " + command.argv().getLast() + " after 2 min");
      }
      try {
        Thread.sleep(pause);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      pause = Math.min(pause * 2, 1000);
    }
  }

  private static Command sequence0(Backend backend) {
    return backend.name().equals("lvmthin") ? LvmCommands.lvs(VmHarness.VG)
        : Command.of(COMMAND_TIMEOUT, "zfs", "list", "-H", "-p", "-o", ZFS_COLUMNS,
            "-t", "filesystem,volume", "-r", "-d", "1", VmHarness.ZFS_DATASET);
  }

  private static List<Command> sequence(Backend backend, String name, Command create) {
    if (backend.name().equals("lvmthin")) {
      return List.of(sequence0(backend), create,
          LvmCommands.disableAutoactivation(VmHarness.VG, name));
    }
    return List.of(sequence0(backend), create,
        Command.of(COMMAND_TIMEOUT, "test", "-b", "/dev/zvol/" + VmHarness.ZFS_DATASET + "/" + name));
  }

  /** ZfsPoolPlugin's listing columns (package-private there), as its recorded fixtures show. */
  private static final String ZFS_COLUMNS = "name,type,volsize,refquota,origin,creation,used,"
      + "usedbydataset,available,referenced,volblocksize,guid,createtxg,clones,"
      + "pve-storage:refquota,pve-storage.csi.io:csi-name,pve-storage.csi.io:pvc-namespace,"
      + "pve-storage.csi.io:pvc-name,pve-storage.csi.io:pv-name,"
      + "pve-storage.csi.io:snapshot-csi-name";

  /** CreateVolume over gRPC; the volumes are deleted afterwards through DeleteVolume. */
  private Cell driver(Backend backend, int inFlight, int volumes) throws Exception {
    ControllerGrpc.ControllerBlockingStub stub = ControllerGrpc.newBlockingStub(driver.channel());
    List<String> ids = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Callable<Double>> calls = new ArrayList<>();
    VolumeCapability block = VolumeCapability.newBuilder()
        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
            .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
        .build();
    for (int i = 0; i < volumes; i++) {
      CreateVolumeRequest request = CreateVolumeRequest.newBuilder()
          .setName("pvc-" + UUID.randomUUID())
          .addVolumeCapabilities(block)
          .putParameters("storage", backend.storage())
          .setCapacityRange(csi.v1.CapacityRange.newBuilder().setRequiredBytes(BYTES))
          .build();
      calls.add(() -> timed(() -> ids.add(stub.withDeadlineAfter(5, TimeUnit.MINUTES)
          .createVolume(request).getVolume().getVolumeId())));
    }
    Map<String, Double> before = metrics();
    try {
      Cell cell = measure(calls, inFlight);
      lastBreakdown = breakdown(before, metrics(), volumes);
      return cell;
    } finally {
      for (String id : ids) {
        stub.withDeadlineAfter(5, TimeUnit.MINUTES)
            .deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
      }
    }
  }

  private static double timed(Runnable action) {
    long start = System.nanoTime();
    action.run();
    return (System.nanoTime() - start) / 1e6;
  }

  /** Runs the calls with at most {@code inFlight} at a time. */
  private static Cell measure(List<Callable<Double>> calls, int inFlight) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(inFlight);
    try {
      long start = System.nanoTime();
      List<Future<Double>> futures = pool.invokeAll(calls);
      double wall = (System.nanoTime() - start) / 1e9;
      double[] millis = new double[futures.size()];
      for (int i = 0; i < millis.length; i++) {
        millis[i] = futures.get(i).get();
      }
      return new Cell(millis, wall);
    } finally {
      pool.shutdownNow();
    }
  }
}
