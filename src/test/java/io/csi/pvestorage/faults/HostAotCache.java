package io.csi.pvestorage.faults;

import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerGrpc;
import csi.v1.CreateVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.GetPluginCapabilitiesRequest;
import csi.v1.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ListVolumesRequest;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGrpc;
import csi.v1.ProbeRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.FaultPoint;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A JDK AOT cache (JEP 483/515) for the drivers the crash suite starts in the emulated guest,
 * assembled on the HOST, where it takes seconds instead of the guest's ten minutes.
 *
 * <p>Why it fits the guest: the guest runs the host's own JDK ({@code /mnt/jdk}) and the
 * project's own jar ({@code /mnt/project}) over 9p, so the cache is made by the same {@code
 * java} from the same jar and module image with the same flags ({@link GuestDriver#JVM_FLAGS});
 * only their directories differ, and the JVM accepts a class path moved as a whole (it checks
 * each jar's size and modification time, which 9p passes through). The guest drivers map it with
 * {@code -XX:AOTMode=on}, so a cache the guest's JVM refuses fails the start instead of
 * silently costing the time again; the suite also counts, from the JVM's class-loading log,
 * how many classes really came from it ({@link #countCachedClasses}).
 *
 * <p>What the training run loads: a {@code serve} process with the suite's own settings (Lease
 * lock on a host mock API server, fault injection on, unarmed) starts, answers Identity, the
 * capability and info calls, and fails a GetCapacity and a CreateVolume at their first storage
 * command (the host has no lvm or zfs: the command is not found). That is gRPC, Netty,
 * protobuf, fabric8, Jackson, the Lease client and the driver's own request path: the bulk of
 * what a start loads. What only a real storage command loads (its parsers) loads from the jar
 * in the guest, a few classes per call. Nothing on the host is changed: no command of the
 * driver can run there.
 */
final class HostAotCache {

  /** The host's {@code java}: the one the guest sees as {@code /mnt/jdk/bin/java}. */
  private static final Path JAVA = Path.of(System.getProperty("java.home"), "bin", "java");
  private static final Duration READY = Duration.ofSeconds(120);

  /** Where the cache was assembled, and how long each part took. */
  record Made(Path cache, Duration recorded, Duration assembled, long bytes) {}

  private HostAotCache() {}

  /**
   * Records a training run of {@code jar} and assembles the cache into {@code dir}.
   *
   * @param jar the packaged driver jar (its manifest names target/lib); the guest must run the
   *     same file
   * @param dir a host directory for the configuration, the cache and the training's files
   */
  static Made assemble(Path jar, Path dir) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    Path configuration = dir.resolve("driver.aotconf");
    Path cache = dir.resolve("driver.aot");
    Files.deleteIfExists(configuration);
    Files.deleteIfExists(cache);
    long start = System.nanoTime();
    record(jar, dir, configuration);
    long recorded = System.nanoTime();
    List<String> create = new ArrayList<>(List.of(JAVA.toString()));
    create.addAll(GuestDriver.JVM_FLAGS);
    create.addAll(List.of("-XX:AOTMode=create", "-XX:AOTConfiguration=" + configuration,
        "-XX:AOTCache=" + cache, "-cp", jar.toString()));
    Path createLog = dir.resolve("create.log");
    Process assembly = new ProcessBuilder(create).redirectErrorStream(true)
        .redirectOutput(createLog.toFile()).start();
    if (!assembly.waitFor(5, TimeUnit.MINUTES) || assembly.exitValue() != 0) {
      assembly.destroyForcibly();
      throw new IllegalStateException("the AOT cache was not assembled: "
          + Files.readString(createLog));
    }
    return new Made(cache, Duration.ofNanos(recorded - start),
        Duration.ofNanos(System.nanoTime() - recorded), Files.size(cache));
  }

  /** The training run: a recording driver, its calls, SIGTERM (the JVM writes on its way out). */
  private static void record(Path jar, Path dir, Path configuration)
      throws IOException, InterruptedException {
    Path work = Files.createDirectories(dir.resolve("work"));
    Path faults = Files.createDirectories(dir.resolve("faults"));
    Path storageCfg = work.resolve("storage.cfg");
    Files.writeString(storageCfg, GuestDriver.storageCfg());
    int grpcPort = freePort();
    int metricsPort = freePort();
    KubernetesMockServer apiServer = GuestDriver.startApiServer();
    Path log = dir.resolve("training.log");
    Process driver = null;
    try {
      List<String> argv = new ArrayList<>(List.of(JAVA.toString()));
      argv.addAll(GuestDriver.JVM_FLAGS);
      argv.addAll(List.of("-XX:AOTMode=record", "-XX:AOTConfiguration=" + configuration,
          "-cp", jar.toString(), "io.csi.pvestorage.app.Main", "serve",
          "--mode", "all",
          "--endpoint", "tcp://127.0.0.1:" + grpcPort,
          "--node-id", GuestDriver.NODE_ID,
          "--storage-config", storageCfg.toString(),
          "--metrics-address", "127.0.0.1:" + metricsPort,
          "--shutdown-grace", "5s",
          "--lock", "lease",
          "--kubelet-dir", work.toString(),
          "--lease-namespace", GuestDriver.LEASE_NAMESPACE,
          "--pod-name", "aot-training",
          "--lease-duration", GuestDriver.EMULATED_LEASE_DURATION,
          // The host has no storage tools; the guest's drivers check theirs.
          "--check-tools", "false",
          "--fault-injection-dir", faults.toString()));
      ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true)
          .redirectOutput(log.toFile());
      Map<String, String> env = builder.environment();
      env.putAll(GuestDriver.apiServerEnvironment("127.0.0.1", apiServer.getPort()));
      env.put(FaultPoint.ENABLE_ENV, FaultPoint.ENABLE_VALUE);
      driver = builder.start();
      train(driver, grpcPort, metricsPort, log);
      driver.destroy(); // SIGTERM
      if (!driver.waitFor(2, TimeUnit.MINUTES) || !Files.exists(configuration)) {
        throw new IllegalStateException("the training driver wrote no AOT configuration: "
            + Files.readString(log));
      }
    } finally {
      if (driver != null) {
        driver.destroyForcibly();
      }
      apiServer.destroy();
    }
  }

  private static void train(Process driver, int grpcPort, int metricsPort, Path log)
      throws IOException, InterruptedException {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcPort)
        .usePlaintext().build();
    try {
      IdentityGrpc.IdentityBlockingStub identity = IdentityGrpc.newBlockingStub(channel);
      long end = System.nanoTime() + READY.toNanos();
      while (!ready(identity)) {
        if (!driver.isAlive() || System.nanoTime() > end) {
          throw new IllegalStateException("the training driver never became ready: "
              + Files.readString(log));
        }
        Thread.sleep(100);
      }
      identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
      identity.getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance());
      ControllerGrpc.ControllerBlockingStub controller = ControllerGrpc.newBlockingStub(channel)
          .withDeadlineAfter(60, TimeUnit.SECONDS);
      NodeGrpc.NodeBlockingStub node = NodeGrpc.newBlockingStub(channel)
          .withDeadlineAfter(60, TimeUnit.SECONDS);
      controller.controllerGetCapabilities(ControllerGetCapabilitiesRequest.getDefaultInstance());
      node.nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance());
      node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance());
      // These reach their first storage command, which cannot run on the host: the answer is
      // an error, and the classes of the request path up to it are loaded.
      answerOrError(() -> controller.listVolumes(ListVolumesRequest.getDefaultInstance()));
      answerOrError(() -> controller.getCapacity(GetCapacityRequest.newBuilder()
          .putParameters("storage", Backend.LVM_THIN.storage()).build()));
      answerOrError(() -> controller.createVolume(CreateVolumeRequest.newBuilder()
          .setName("aot-training")
          .setCapacityRange(csi.v1.CapacityRange.newBuilder().setRequiredBytes(64L << 20))
          .putParameters("storage", Backend.LVM_THIN.storage())
          .putParameters("fsType", Backend.LVM_THIN.fsType())
          .addVolumeCapabilities(VolumeCapability.newBuilder()
              .setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4"))
              .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                  .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER)))
          .build()));
      HttpClient http = HttpClient.newHttpClient();
      http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
          .build(), HttpResponse.BodyHandlers.discarding());
    } finally {
      channel.shutdownNow();
    }
  }

  private static boolean ready(IdentityGrpc.IdentityBlockingStub identity) {
    try {
      return identity.withDeadlineAfter(5, TimeUnit.SECONDS)
          .probe(ProbeRequest.getDefaultInstance()).getReady().getValue();
    } catch (StatusRuntimeException notYet) {
      return false;
    }
  }

  private static void answerOrError(Supplier<?> call) {
    try {
      call.get();
    } catch (StatusRuntimeException expected) {
      // The host has no storage: the error path is part of what a guest driver loads too.
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  /**
   * How many of the classes a guest JVM loaded came from the AOT cache: its {@code
   * -Xlog:class+load} file, where a cached class says {@code source: shared objects file}.
   *
   * @return {cached, all}
   */
  static long[] countCachedClasses(String classLoadLog) {
    List<String> loaded = classLoadLog.lines().filter(l -> l.contains("source: ")).toList();
    long cached = loaded.stream().filter(l -> l.contains("source: shared objects file")).count();
    return new long[] {cached, loaded.size()};
  }

  /**
   * When each of {@code prefixes} was first loaded, by the JVM uptime the class-loading log
   * gives each line ({@code [19.188s][info][class,load] io.csi...Main source: ...}): where a
   * start spent its time. A prefix never loaded shows as {@code -}.
   */
  static java.util.Map<String, String> firstLoads(String classLoadLog, List<String> prefixes) {
    java.util.Map<String, String> first = new java.util.LinkedHashMap<>();
    prefixes.forEach(p -> first.put(p.strip(), "-"));
    classLoadLog.lines().filter(l -> l.startsWith("[") && l.indexOf(']') > 1).forEach(line -> {
      String rest = line.substring(line.lastIndexOf("] ") + 2);
      for (String prefix : prefixes) {
        if (rest.startsWith(prefix) && first.get(prefix.strip()).equals("-")) {
          first.put(prefix.strip(), line.substring(1, line.indexOf(']')));
        }
      }
    });
    return first;
  }
}
