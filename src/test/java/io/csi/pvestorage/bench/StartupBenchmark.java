package io.csi.pvestorage.bench;

import csi.v1.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ProbeRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Measures, for several JVM flag sets, the time from starting the driver process to its first
 * successful {@code Probe} with {@code ready=true} over the unix socket, and the resident memory
 * of the idle driver. Not a test: it prints numbers.
 *
 * <pre>
 * mvn -B -q -DskipTests package
 * java -cp 'target/test-classes:target/classes:target/lib/*' \
 *     io.csi.pvestorage.bench.StartupBenchmark [runs] [variant ...]
 * </pre>
 *
 * <p>The driver runs with the java of this JVM ({@code java.home}).
 */
public final class StartupBenchmark {

  /** The JVM flags the image and the demo use (src/main/jvm/jvm.options), one per line. */
  static final Path JVM_OPTIONS = Path.of("src/main/jvm/jvm.options");

  /** A node's storage.cfg with one LVM-thin and one ZFS storage, as on a PVE host. */
  static final String STORAGE_CFG = """
      lvmthin: local-lvm
      \tvgname pve
      \tthinpool data

      zfspool: local-zfs
      \tpool rpool/data
      \tsparse 1
      """;

  private record Variant(String name, List<String> flags, List<String> trainingFlags) {}

  private record Sample(double readyMs, double rssMib) {}

  /** Held so the level setting is not garbage collected with the logger. */
  private static final java.util.logging.Logger NETTY_BOOTSTRAP =
      java.util.logging.Logger.getLogger("io.grpc.netty.shaded.io.netty.bootstrap");

  private StartupBenchmark() {}

  public static void main(String[] args) throws Exception {
    NETTY_BOOTSTRAP.setLevel(java.util.logging.Level.SEVERE); // SO_KEEPALIVE on unix sockets
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    List<String> tuned = Files.readAllLines(JVM_OPTIONS).stream()
        .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    Path work = Files.createTempDirectory("startup-bench");
    Path jar = Path.of("target/pve-storage-csi.jar").toAbsolutePath();
    Path cfg = work.resolve("storage.cfg");
    Files.writeString(cfg, STORAGE_CFG);
    Path aot = work.resolve("driver.aot");
    Path cds = work.resolve("driver.jsa");

    List<String> tunedAot = new ArrayList<>(tuned);
    tunedAot.add("-XX:AOTCache=" + aot);
    tunedAot.add("-XX:AOTMode=on"); // fail rather than silently run without the cache
    List<String> trainAot = new ArrayList<>(tuned);
    trainAot.add("-XX:AOTCacheOutput=" + aot);
    List<String> tunedCds = new ArrayList<>(tuned);
    tunedCds.add("-XX:SharedArchiveFile=" + cds);
    tunedCds.add("-XX:+AutoCreateSharedArchive");

    List<Variant> all = List.of(
        new Variant("jvm-defaults", List.of("--enable-native-access=ALL-UNNAMED"), null),
        new Variant("tuned", tuned, null),
        new Variant("tuned+appcds", tunedCds, tunedCds),
        new Variant("tuned+aot-cache", tunedAot, trainAot));
    List<String> chosen = args.length > 1 ? Arrays.asList(args).subList(1, args.length) : List.of();

    System.out.printf("java: %s (%s)%n", System.getProperty("java.home"),
        System.getProperty("java.version"));
    System.out.printf("driver: %s, %d runs per variant, median [min..max]%n", jar, runs);
    EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
    try {
      // Warm this JVM's client side so its own class loading is not counted.
      measure(jar, cfg, work, List.of(), loop);
      System.out.printf("%-18s %-26s %-22s%n", "variant", "ready after start (ms)", "idle RSS (MiB)");
      for (Variant variant : all) {
        if (!chosen.isEmpty() && !chosen.contains(variant.name())) {
          continue;
        }
        if (variant.trainingFlags() != null) {
          measure(jar, cfg, work, variant.trainingFlags(), loop);
        }
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
          samples.add(measure(jar, cfg, work, variant.flags(), loop));
        }
        System.out.printf("%-18s %-26s %-22s%n", variant.name(),
            stats(samples.stream().mapToDouble(Sample::readyMs).toArray(), "%.0f"),
            stats(samples.stream().mapToDouble(Sample::rssMib).toArray(), "%.1f"));
      }
    } finally {
      loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }

  private static Sample measure(Path jar, Path cfg, Path work, List<String> jvmFlags,
      EpollEventLoopGroup loop) throws Exception {
    Path socket = work.resolve("csi.sock");
    Files.deleteIfExists(socket);
    List<String> argv = new ArrayList<>();
    argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    argv.addAll(jvmFlags);
    argv.addAll(List.of("-jar", jar.toString(), "serve", "--endpoint=unix://" + socket,
        "--node-id=bench", "--storage-config=" + cfg, "--lock=local",
        "--metrics-address=127.0.0.1:0",
        // The build machine has no lvm or zfs; the tool check would keep it from ever being
        // ready. On a node it costs the few milliseconds of its version commands.
        "--check-tools=false"));
    long start = System.nanoTime();
    Process driver = new ProcessBuilder(argv).redirectErrorStream(true)
        .redirectOutput(work.resolve("driver.log").toFile()).start();
    try {
      while (!Files.exists(socket)) {
        if (!driver.isAlive()) {
          throw new IllegalStateException("driver exited: " + Files.readString(
              work.resolve("driver.log")));
        }
        Thread.onSpinWait();
      }
      ManagedChannel channel = NettyChannelBuilder
          .forAddress(new DomainSocketAddress(socket.toString()))
          .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
      double readyMs;
      try {
        IdentityGrpc.IdentityBlockingStub stub = IdentityGrpc.newBlockingStub(channel);
        while (true) {
          try {
            if (stub.withDeadlineAfter(2, TimeUnit.SECONDS).probe(ProbeRequest.getDefaultInstance())
                .getReady().getValue()) {
              break;
            }
          } catch (StatusRuntimeException notYet) {
            Thread.sleep(1);
          }
        }
        readyMs = (System.nanoTime() - start) / 1e6;
        // A few more calls, as the sidecars would make, then let it idle.
        for (int i = 0; i < 20; i++) {
          stub.probe(ProbeRequest.getDefaultInstance());
          stub.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      Thread.sleep(3000);
      double rssMib = rssKib(driver.pid()) / 1024.0;
      return new Sample(readyMs, rssMib);
    } finally {
      driver.destroy();
      if (!driver.waitFor(30, TimeUnit.SECONDS)) {
        driver.destroyForcibly();
      }
    }
  }

  private static long rssKib(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IOException("no VmRSS for pid " + pid);
  }

  private static String stats(double[] values, String format) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    return String.format(Locale.ROOT, format + " [" + format + ".." + format + "]",
        median, sorted[0], sorted[sorted.length - 1]);
  }
}
