package io.csi.pvestorage.conformance;

import com.google.protobuf.BoolValue;
import csi.v1.IdentityGrpc;
import csi.v1.ProbeRequest;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestProcess;
import io.csi.pvestorage.harness.RunningDriver;
import io.csi.pvestorage.harness.VmHarness;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The driver's {@code serve} process running in the harness guest (where the real lvm, zfs,
 * mkfs and mount are), reached from the host over a forwarded TCP port. It serves Identity,
 * Controller and Node ({@code --mode all}) for one node, with a storage.cfg written into a guest
 * temp dir. With {@link LockMode#LEASE} a fabric8 mock API server (CRUD mode) runs on the host
 * and the guest reaches it at {@value #HOST_FROM_GUEST}, slirp's alias of the host loopback.
 *
 * <p>{@link #startInContainer} runs the driver's image instead, as the node DaemonSet runs it
 * ({@link ContainerDriver}); the cases drive both the same way.
 */
public final class GuestDriver implements AutoCloseable {

  /** The host's loopback as the guest sees it (qemu user networking). */
  public static final String HOST_FROM_GUEST = "10.0.2.2";
  public static final String NODE_ID = "conformance-node";
  /** A node that exists in the topology of nothing here: the "elsewhere" of topology cases. */
  public static final String OTHER_NODE = "some-other-node";
  public static final String LVM_STORAGE = "local-lvm";
  public static final String ZFS_STORAGE = "local-zfs";
  /** In storage.cfg, but restricted to {@link #OTHER_NODE}. */
  public static final String FOREIGN_STORAGE = "elsewhere-lvm";

  public static final String LEASE_NAMESPACE = "pve-storage-csi";
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);
  /** Where the driver serves /metrics inside the guest (read with {@link #scrapeMetrics}). */
  public static final int METRICS_PORT = 9600;
  /**
   * The Lease duration the drivers in the emulated guest run with, instead of the production
   * default of 15 s (fenced 10 s after the last renewal). The guest's CPU is emulated (TCG) and
   * shares two host cores: measured on 2026-12-07 with the host at load 9-11, a driver took
   * 15 s for its first CreateVolume after start and its first renewal, 5 s after acquiring the
   * Lease, had not landed 10 s later, so the call was fenced (UNAVAILABLE "may expire") although
   * nothing else wanted the Lease. 60 s scales the same protocol to a CPU that is tens of times
   * slower; the renewal interval stays 5 s. Takeover and fencing are tested with their real
   * timings on the host (LeaseTakeoverProcessTest, the lock tests).
   */
  public static final String EMULATED_LEASE_DURATION = "60s";

  /**
   * The JVM flags of every driver started here, before a {@link Jvm}'s own options: what also
   * records or assembles an AOT cache for these drivers passes them, so that the cache fits.
   */
  public static final List<String> JVM_FLAGS = List.of("-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1", "-Xmx256m", "--enable-native-access=ALL-UNNAMED");

  /**
   * How long a started driver may take from listening to Probe's ready=true (its storage lock's
   * client started). Measured 2026-12-07, host load 15-20 with two emulated guests: a driver
   * without a class cache listened 3 min after its start and was still not ready 3 min later.
   */
  private static final Duration READY_DEADLINE = Duration.ofSeconds(420);

  /** The mock API server logs every request at INFO; the Lease renewals would drown the output. */
  private static final Logger MOCK_SERVER_LOG = Logger.getLogger("io.fabric8.mockwebserver");

  /** How the driver serialises storage changes. */
  public enum LockMode {
    LEASE,
    LOCAL
  }

  private final GuestCommandRunner guest;
  private final RunningDriver process;
  private final ManagedChannel channel;
  private final String workDir;
  private final KubernetesMockServer apiServer;
  private final LockMode lockMode;
  /** What puts a guest command into the driver's network namespace (empty: the guest's own). */
  private final List<String> driverNetwork;
  /** How this process was started, for {@link #restart}; null for a container. */
  private Launch launch;
  /** How long this process took to start; zero for a container. */
  private StartTimes startTimes = new StartTimes(Duration.ZERO, Duration.ZERO);
  /** Set by {@link #restart}: the work dir and API server belong to the new driver now. */
  private boolean handedOver;

  private GuestDriver(GuestCommandRunner guest, RunningDriver process, ManagedChannel channel,
      String workDir, KubernetesMockServer apiServer, LockMode lockMode, List<String> driverNetwork) {
    this.guest = guest;
    this.process = process;
    this.channel = channel;
    this.workDir = workDir;
    this.apiServer = apiServer;
    this.lockMode = lockMode;
    this.driverNetwork = List.copyOf(driverNetwork);
  }

  /**
   * Writes storage.cfg in a fresh guest temp dir, starts {@code serve} there and waits until
   * Probe says ready.
   *
   * @param guestPort the CSI port in the guest
   */
  public static GuestDriver start(VmHarness vm, int guestPort, LockMode lockMode)
      throws InterruptedException {
    return start(vm, guestPort, lockMode, Duration.ofSeconds(2));
  }

  /**
   * As {@link #start(VmHarness, int, LockMode)}, with the pool gauges refreshed every {@code
   * poolRefresh} (2 s there, so that a metrics test sees them soon; a benchmark wants the
   * production default, whose listings do not compete with what it measures).
   */
  public static GuestDriver start(VmHarness vm, int guestPort, LockMode lockMode,
      Duration poolRefresh) throws InterruptedException {
    return start(vm, guestPort, lockMode, poolRefresh, List.of(), Map.of());
  }

  /**
   * As {@link #start(VmHarness, int, LockMode, Duration)}, with {@code extraArgs} after the
   * usual flags and {@code extraEnv} in the driver's environment (the crash suite's fault
   * point). The returned driver can be {@linkplain #restart restarted}.
   */
  public static GuestDriver start(VmHarness vm, int guestPort, LockMode lockMode,
      Duration poolRefresh, List<String> extraArgs, Map<String, String> extraEnv)
      throws InterruptedException {
    return start(vm, guestPort, lockMode, poolRefresh, extraArgs, extraEnv, Jvm.CLASSES);
  }

  /**
   * How the guest's JVM runs the driver: its options after the usual ones, and its class path.
   *
   * @param options e.g. an AOT cache ({@code -XX:AOTCache=...})
   * @param classPath {@link #CLASSES} reads the compiled classes directory; {@link #jar} the
   *     packaged jar (its manifest names the jars of target/lib), which a class-data sharing
   *     archive or AOT cache needs: the JVM refuses to record one with a directory in the path
   */
  public record Jvm(List<String> options, String classPath) {
    public static final Jvm CLASSES = new Jvm(List.of(),
        VmHarness.GUEST_PROJECT + "/target/classes:" + VmHarness.GUEST_PROJECT + "/target/lib/*");

    public Jvm {
      options = List.copyOf(options);
    }

    /** The packaged jar of {@code mvn package}, with {@code options}. */
    public static Jvm jar(List<String> options) {
      return new Jvm(options, VmHarness.GUEST_PROJECT + "/target/pve-storage-csi.jar");
    }
  }

  /**
   * As {@link #start(VmHarness, int, LockMode, Duration, List, Map)}, with the JVM's options
   * and class path given ({@link Jvm}).
   */
  public static GuestDriver start(VmHarness vm, int guestPort, LockMode lockMode,
      Duration poolRefresh, List<String> extraArgs, Map<String, String> extraEnv, Jvm jvm)
      throws InterruptedException {
    GuestCommandRunner guest = vm.runner();
    String workDir = must(guest, "mktemp", "-d", "/tmp/csi-conformance.XXXXXX").stdoutText().strip();
    String storageCfg = workDir + "/storage.cfg";
    guest.writeFile(storageCfg, storageCfg());

    KubernetesMockServer apiServer = null;
    Map<String, String> env = new LinkedHashMap<>();
    List<String> argv = new ArrayList<>(List.of(VmHarness.GUEST_JDK + "/bin/java"));
    argv.addAll(JVM_FLAGS);
    argv.addAll(jvm.options());
    argv.addAll(List.of("-cp", jvm.classPath(),
        "io.csi.pvestorage.app.Main", "serve",
        "--mode", "all",
        "--endpoint", "tcp://0.0.0.0:" + guestPort,
        "--node-id", NODE_ID,
        "--storage-config", storageCfg,
        "--metrics-address", "127.0.0.1:" + METRICS_PORT,
        "--pool-refresh", poolRefresh.toMillis() + "ms",
        "--shutdown-grace", "5s",
        "--lock", lockMode.name().toLowerCase(java.util.Locale.ROOT),
        // The cases stage and publish below the work dir, which stands in for the kubelet's.
        "--kubelet-dir", workDir));
    if (lockMode == LockMode.LEASE) {
      apiServer = startApiServer();
      argv.addAll(List.of("--lease-namespace", LEASE_NAMESPACE, "--pod-name", "conformance-driver"));
      if (!extraArgs.contains("--lease-duration")) {
        argv.addAll(List.of("--lease-duration", EMULATED_LEASE_DURATION));
      }
      env.putAll(apiServerEnvironment(HOST_FROM_GUEST, apiServer.getPort()));
    }
    argv.addAll(extraArgs);
    env.putAll(extraEnv);
    Launch launch = new Launch(List.copyOf(argv), Map.copyOf(env), guestPort);
    return launch(vm, launch, workDir, apiServer, lockMode);
  }

  /** What {@link #restart} repeats: the command line, environment and port of the process. */
  private record Launch(List<String> argv, Map<String, String> env, int guestPort) {}

  private static GuestDriver launch(VmHarness vm, Launch launch, String workDir,
      KubernetesMockServer apiServer, LockMode lockMode) throws InterruptedException {
    GuestCommandRunner guest = vm.runner();
    int guestPort = launch.guestPort();
    long start = System.nanoTime();
    GuestProcess process = vm.startGuestProcess(launch.argv(), launch.env(), guestPort);
    try {
      // Measured (2026-12-07): with the host's load at 10-16 on 2 cores, the emulated guest's JVM
      // needed ~100 s to load its classes over 9p and listen; 120 s failed every start.
      process.awaitListening(Duration.ofSeconds(300));
    } catch (RuntimeException | InterruptedException e) {
      throw failedToStart(e, process, apiServer);
    }
    Duration listening = Duration.ofNanos(System.nanoTime() - start);
    GuestDriver driver = connect(guest, process, workDir, apiServer, lockMode, List.of());
    driver.launch = launch;
    driver.startTimes = new StartTimes(listening, Duration.ofNanos(System.nanoTime() - start));
    return driver;
  }

  /**
   * Where a guest process's start went, both from its launch: until it listened on its port,
   * and until Probe answered ready=true (its Lease client started).
   */
  public record StartTimes(Duration listening, Duration ready) {}

  /** How long this process took to listen and to be ready (zero for a container). */
  public StartTimes startTimes() {
    return startTimes;
  }

  /**
   * Starts the same driver again, as the kubelet restarts a container: a new process with the
   * same command line, work dir and mock API server (so the Lease the old one held is still
   * there), after this one died or was stopped. This object hands its work dir and API server to
   * the returned driver and must not be used again.
   */
  public GuestDriver restart(VmHarness vm) throws InterruptedException {
    if (launch == null) {
      throw new IllegalStateException("only a driver started as a guest process restarts");
    }
    channel.shutdownNow();
    process.stop();
    handedOver = true;
    return launch(vm, launch, workDir, apiServer, lockMode);
  }

  /**
   * Runs the driver's OCI image as a container under runc in the guest, with the node
   * DaemonSet's settings rendered from the chart (ContainerDriver), the Lease lock against a
   * mock API server on the host, and waits until Probe says ready. The work directory lies under
   * the kubelet's directory, which the container shares with the guest as a node would.
   *
   * @param extraValues values files rendered on top of the container ITs' own
   */
  public static GuestDriver startInContainer(VmHarness vm, int guestPort, List<Path> extraValues)
      throws InterruptedException {
    GuestCommandRunner guest = vm.runner();
    KubernetesMockServer apiServer = startApiServer();
    ContainerDriver container;
    try {
      container = ContainerDriver.start(vm, guestPort, apiServer.getPort(), extraValues);
    } catch (RuntimeException e) {
      apiServer.destroy();
      throw e;
    }
    String workDir;
    try {
      workDir = must(guest, "mktemp", "-d", container.kubeletDir() + "/csi-conformance.XXXXXX")
          .stdoutText().strip();
    } catch (RuntimeException | AssertionError e) {
      throw failedToStart(e, container, apiServer);
    }
    return connect(guest, container, workDir, apiServer, LockMode.LEASE,
        container.pod().inPodNetwork(List.of()));
  }

  /** Connects to a started driver and waits for Probe to say ready; cleans up if it never does. */
  private static GuestDriver connect(GuestCommandRunner guest, RunningDriver process,
      String workDir, KubernetesMockServer apiServer, LockMode lockMode, List<String> network)
      throws InterruptedException {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", process.hostPort())
        .usePlaintext()
        .maxInboundMessageSize(16 << 20)
        .build();
    try {
      GuestDriver driver = new GuestDriver(guest, process, channel, workDir, apiServer, lockMode,
          network);
      driver.awaitReady(READY_DEADLINE);
      return driver;
    } catch (RuntimeException | InterruptedException e) {
      channel.shutdownNow();
      throw failedToStart(e, process, apiServer);
    }
  }

  private static IllegalStateException failedToStart(Throwable cause, RunningDriver process,
      KubernetesMockServer apiServer) {
    String log = process.log();
    process.stop();
    if (apiServer != null) {
      apiServer.destroy();
    }
    return new IllegalStateException("the driver did not come up in the guest: "
        + cause.getMessage() + "\n--- driver log ---\n" + log, cause);
  }

  /** A fabric8 mock API server (CRUD mode) on the host, for the Lease lock. */
  public static KubernetesMockServer startApiServer() {
    MOCK_SERVER_LOG.setLevel(Level.WARNING);
    KubernetesMockServer apiServer = new KubernetesMockServer(new Context(), new MockWebServer(),
        new HashMap<>(), new KubernetesCrudDispatcher(), false);
    apiServer.init();
    return apiServer;
  }

  /**
   * What points the driver's Kubernetes client at the mock API server: the address (plain HTTP,
   * no credentials to look for) and the namespace a service account would give.
   */
  public static Map<String, String> apiServerEnvironment(String host, int port) {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("KUBERNETES_MASTER", "http://" + host + ":" + port);
    env.put("KUBERNETES_AUTH_TRYKUBECONFIG", "false");
    env.put("KUBERNETES_AUTH_TRYSERVICEACCOUNT", "false");
    env.put("KUBERNETES_NAMESPACE", LEASE_NAMESPACE);
    return env;
  }

  /** lvmthin and zfspool storages of the harness layout, and one meant for another node. */
  public static String storageCfg() {
    return "lvmthin: " + LVM_STORAGE + "\n"
        + "\tvgname " + VmHarness.VG + "\n"
        + "\tthinpool " + VmHarness.THIN_POOL + "\n"
        + "\tcontent images,rootdir\n"
        + "\n"
        + "zfspool: " + ZFS_STORAGE + "\n"
        + "\tpool " + VmHarness.ZFS_DATASET + "\n"
        + "\tsparse 1\n"
        + "\tcontent images,rootdir\n"
        + "\n"
        + "lvmthin: " + FOREIGN_STORAGE + "\n"
        + "\tvgname " + VmHarness.VG + "\n"
        + "\tthinpool " + VmHarness.THIN_POOL + "\n"
        + "\tcontent images,rootdir\n"
        + "\tnodes " + OTHER_NODE + "\n";
  }

  private void awaitReady(Duration deadline) throws InterruptedException {
    long end = System.nanoTime() + deadline.toNanos();
    IdentityGrpc.IdentityBlockingStub identity = IdentityGrpc.newBlockingStub(channel);
    String last = "no answer";
    while (System.nanoTime() < end) {
      try {
        BoolValue ready = identity.withDeadlineAfter(10, TimeUnit.SECONDS)
            .probe(ProbeRequest.getDefaultInstance()).getReady();
        if (ready.getValue()) {
          return;
        }
        last = "ready=false";
      } catch (StatusRuntimeException e) {
        last = e.getStatus().toString();
      }
      if (!process.isAlive()) {
        throw new IllegalStateException("the driver exited");
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException("Probe did not answer ready=true within "
        + deadline.toSeconds() + " s (last: " + last + ")");
  }

  public ManagedChannel channel() {
    return channel;
  }

  /** The host port that reaches the driver's CSI endpoint ({@code tcp://127.0.0.1:<port>}). */
  public int hostPort() {
    return process.hostPort();
  }

  /** The driver's Prometheus text, fetched inside the guest (in the driver's network). */
  public String scrapeMetrics() {
    List<String> argv = new ArrayList<>(driverNetwork);
    argv.addAll(List.of("python3", "-c", "import sys, urllib.request; sys.stdout.write("
        + "urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())",
        "http://127.0.0.1:" + METRICS_PORT + "/metrics"));
    return must(argv.toArray(String[]::new)).stdoutText();
  }

  /** The driver as it runs: a process in the guest, or a container. */
  public RunningDriver process() {
    return process;
  }

  public GuestCommandRunner guest() {
    return guest;
  }

  /** A guest directory owned by this driver run (removed on close). */
  public String workDir() {
    return workDir;
  }

  public LockMode lockMode() {
    return lockMode;
  }

  /** The Leases in the mock API server (LEASE mode): proof that the lock really went through it. */
  public List<String> leaseNames() {
    if (apiServer == null) {
      return List.of();
    }
    try (KubernetesClient client = apiServer.createClient()) {
      return client.leases().inNamespace(LEASE_NAMESPACE).list().getItems()
          .stream().map(lease -> lease.getMetadata().getName()).sorted().toList();
    }
  }

  /**
   * The Leases in the mock API server (LEASE mode) with their resource versions: the mock
   * server numbers every write with the next version, so the highest one read before and after
   * a burst tells how many writes it made.
   */
  public Map<String, Long> leaseResourceVersions() {
    if (apiServer == null) {
      return Map.of();
    }
    try (KubernetesClient client = apiServer.createClient()) {
      Map<String, Long> versions = new java.util.TreeMap<>();
      client.leases().inNamespace(LEASE_NAMESPACE).list().getItems().forEach(lease ->
          versions.put(lease.getMetadata().getName(),
              Long.parseLong(lease.getMetadata().getResourceVersion())));
      return versions;
    }
  }

  /**
   * After this driver's process has been seen to exit, ages the Leases it left held in its mock
   * API server ({@link LeaseAgeing}), so that the {@linkplain #restart restarted} driver takes
   * them over at once. Only this process ever used that API server, so every holder there is
   * dead.
   *
   * @return the Leases aged ({@code name held by holder}); empty when it held none
   * @throws IllegalStateException while the process still runs, or without a mock API server
   */
  public List<String> ageLeasesOfDeadProcess() {
    if (process.isAlive()) {
      throw new IllegalStateException("the driver still runs: its Leases must expire by time");
    }
    if (apiServer == null || handedOver) {
      throw new IllegalStateException("no mock API server of this driver's own");
    }
    try (KubernetesClient client = apiServer.createClient()) {
      return LeaseAgeing.ageHeld(client, LEASE_NAMESPACE);
    }
  }

  /** The driver's stdout and stderr so far. */
  public String log() {
    return process.log();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Runs a command in the guest and requires exit 0. */
  public CommandResult must(String... argv) {
    return must(guest, argv);
  }

  /** Runs a command in the guest, whatever its exit code. */
  public CommandResult run(String... argv) {
    return guest.run(Command.of(COMMAND_TIMEOUT, argv));
  }

  static CommandResult must(GuestCommandRunner guest, String... argv) {
    CommandResult result = guest.run(Command.of(COMMAND_TIMEOUT, argv));
    if (result.exitCode() != 0) {
      throw new AssertionError("in the guest: " + String.join(" ", argv) + " exited "
          + result.exitCode() + ": " + result.stderrText().strip());
    }
    return result;
  }


  /** Stops the driver (SIGTERM), the mock API server, and removes the work dir. */
  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    process.stop();
    if (handedOver) {
      return;
    }
    if (apiServer != null) {
      apiServer.destroy();
    }
    run("rm", "-rf", workDir);
  }
}
