package io.csi.pvestorage.bench;

import csi.v1.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGrpc;
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
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The node plugin in its production configuration, started as the image starts it: node mode,
 * the Lease lock against an API server ({@link LoopbackApiServer}: TLS on loopback, a kubeconfig
 * naming only its CA), metrics on, {@code java @jvm.options -XX:SharedArchiveFile=driver.jsa
 * -jar}, with the class-data archive recorded by the image's own training script
 * ({@code src/image/train-cds}). Per run it prints the time from starting the process to the
 * first {@code Probe} answering ready, the CPU time the process used until then (the driver's
 * own threads; unlike the wall-clock time it hardly moves with the machine's load), the API
 * requests made until then, then, after the calls a
 * node's sidecars make, the CPU the process used over an idle window (its own threads, and its
 * children: the pool gauges' lvm/zfs commands) and its resident memory at the end. Not a test:
 * it prints numbers (median of the runs last).
 *
 * <pre>
 * mvn -B -q -DskipTests package test-compile
 * java -cp 'target/test-classes:target/classes:target/lib/*' \
 *     io.csi.pvestorage.bench.NodeStartupBenchmark [--runs=7] [--idle=60] [--lock=lease|local] \
 *     [--archive=train|none|PATH] [--jar=PATH|classpath] [--jvm=-XX:Flag,-XX:Other] [--jcmd='VM.native_memory summary']
 * </pre>
 *
 * <p>{@code --jvm} adds JVM flags after the image's (to try one), {@code --jcmd} runs that
 * diagnostic command at the end of each idle window into {@code jcmd.txt} of the work directory.
 *
 * <p>This machine has no lvm or zfs, so the start-up tool check is off ({@code
 * --check-tools=false}, as {@link StartupBenchmark} does) and the pool gauges' commands fail at
 * once; on a node they add their own run time to the children's CPU.
 */
public final class NodeStartupBenchmark {

  /** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
  private static final double TICKS_PER_SECOND = 100;

  /** Held so the level setting is not garbage collected with the logger. */
  private static final java.util.logging.Logger NETTY_BOOTSTRAP =
      java.util.logging.Logger.getLogger("io.grpc.netty.shaded.io.netty.bootstrap");

  private record Sample(double readyMs, double readyCpuMs, Map<String, Long> requestsToReady,
      double cpuPercent, double childCpuPercent, Map<String, Long> idleRequests, double rssMib,
      double anonMib, double fileMib) {}

  private NodeStartupBenchmark() {}

  public static void main(String[] args) throws Exception {
    run(args, System.out);
  }

  /** Runs the benchmark with the arguments of {@link #main}, printing to {@code out}. */
  static void run(String[] args, java.io.PrintStream out) throws Exception {
    NETTY_BOOTSTRAP.setLevel(java.util.logging.Level.SEVERE); // SO_KEEPALIVE on unix sockets
    Map<String, String> options = new HashMap<>(Map.of(
        "runs", "7", "idle", "60", "lock", "lease", "archive", "train", "jvm", "", "jcmd", "",
        "jar", "target/pve-storage-csi.jar"));
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (!arg.startsWith("--") || eq < 0 || !options.containsKey(arg.substring(2, eq))) {
        throw new IllegalArgumentException("unknown argument " + arg + "; known: " + options);
      }
      options.put(arg.substring(2, eq), arg.substring(eq + 1));
    }
    int runs = Integer.parseInt(options.get("runs"));
    int idleSeconds = Integer.parseInt(options.get("idle"));
    Path work = Files.createTempDirectory("node-startup-bench");
    // "classpath" runs the driver from this JVM's class path (the smoke test, before package).
    boolean fromClassPath = options.get("jar").equals("classpath");
    Path jar = Path.of(options.get("jar")).toAbsolutePath();
    Path jvmOptions = StartupBenchmark.JVM_OPTIONS.toAbsolutePath();
    Path cfg = work.resolve("storage.cfg");
    Files.writeString(cfg, StartupBenchmark.STORAGE_CFG);
    Path archive = switch (options.get("archive")) {
      case "none" -> null;
      case "train" -> train(jvmOptions, jar, work.resolve("driver.jsa"));
      default -> Path.of(options.get("archive")).toAbsolutePath();
    };

    out.printf("java: %s (%s)%n", System.getProperty("java.home"),
        System.getProperty("java.version"));
    out.printf("work directory: %s%n", work);
    out.printf("driver: %s, @%s, archive %s, lock %s, idle %d s, %d runs%n", jar,
        jvmOptions, archive == null ? "none" : archive, options.get("lock"), idleSeconds, runs);
    EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
    try (LoopbackApiServer api = LoopbackApiServer.start(work)) {
      List<String> argv = new ArrayList<>();
      argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      argv.add("@" + jvmOptions);
      if (archive != null) {
        argv.add("-XX:SharedArchiveFile=" + archive);
      }
      if (!options.get("jvm").isEmpty()) {
        argv.addAll(List.of(options.get("jvm").split(",")));
      }
      argv.addAll(fromClassPath
          ? List.of("-cp", System.getProperty("java.class.path"), "io.csi.pvestorage.app.Main")
          : List.of("-jar", jar.toString()));
      argv.addAll(List.of("serve", "--mode=node",
          "--endpoint=unix://" + work.resolve("csi.sock"), "--node-id=bench",
          "--storage-config=" + cfg, "--lock=" + options.get("lock"),
          "--lock-dir=" + work, "--lease-namespace=bench", "--pod-name=bench-node",
          "--metrics-address=127.0.0.1:0", "--check-tools=false"));
      // Warm this JVM's client side so that its own class loading is not counted.
      measure(argv, work, api, 0, "", loop);
      out.printf("load average before: %s%n", loadAverage());
      out.printf("%-4s %10s %12s %-38s %8s %9s %-22s %9s %9s %9s%n", "run", "ready ms",
          "CPU to ready",
          "API requests until ready", "CPU %", "child %", "API requests idle", "RSS MiB",
          "anon MiB", "file MiB");
      List<Sample> samples = new ArrayList<>();
      for (int i = 1; i <= runs; i++) {
        Sample s = measure(argv, work, api, idleSeconds, options.get("jcmd"), loop);
        samples.add(s);
        out.printf(Locale.ROOT,
            "%-4d %10.0f %12.0f %-38s %8.2f %9.2f %-22s %9.1f %9.1f %9.1f%n",
            i, s.readyMs(), s.readyCpuMs(), s.requestsToReady(), s.cpuPercent(),
            s.childCpuPercent(), s.idleRequests(), s.rssMib(), s.anonMib(), s.fileMib());
      }
      out.printf(Locale.ROOT, "%-4s %10.0f %12.0f %-38s %8.2f %9.2f %-22s %9.1f %9.1f %9.1f%n",
          "med", median(samples, Sample::readyMs), median(samples, Sample::readyCpuMs), "",
          median(samples, Sample::cpuPercent), median(samples, Sample::childCpuPercent), "",
          median(samples, Sample::rssMib),
          median(samples, Sample::anonMib), median(samples, Sample::fileMib));
      out.printf("load average after: %s%n", loadAverage());
    } finally {
      loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }

  /** Records the archive as the image build does, with the image's own script. */
  private static Path train(Path jvmOptions, Path jar, Path archive) throws Exception {
    Files.deleteIfExists(archive);
    ProcessBuilder training = new ProcessBuilder("sh", "src/image/train-cds",
        jvmOptions.toString(), jar.toString(), archive.toString()).inheritIO();
    training.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin")
        + ":" + System.getenv("PATH"));
    if (training.start().waitFor() != 0 || !Files.exists(archive)) {
      throw new IOException("src/image/train-cds failed");
    }
    return archive;
  }

  private static Sample measure(List<String> argv, Path work, LoopbackApiServer api,
      int idleSeconds, String jcmd, EpollEventLoopGroup loop) throws Exception {
    Path socket = work.resolve("csi.sock");
    Files.deleteIfExists(socket);
    api.takeRequests();
    ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true)
        .redirectOutput(work.resolve("driver.log").toFile());
    builder.environment().put("KUBECONFIG", api.kubeconfig().toString());
    long start = System.nanoTime();
    Process driver = builder.start();
    try {
      while (!Files.exists(socket)) {
        if (!driver.isAlive()) {
          throw new IllegalStateException("driver exited: "
              + Files.readString(work.resolve("driver.log")));
        }
        Thread.onSpinWait();
      }
      ManagedChannel channel = NettyChannelBuilder
          .forAddress(new DomainSocketAddress(socket.toString()))
          .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
      double readyMs;
      double readyCpuMs;
      Map<String, Long> toReady;
      try {
        IdentityGrpc.IdentityBlockingStub identity = IdentityGrpc.newBlockingStub(channel);
        while (true) {
          try {
            if (identity.withDeadlineAfter(2, TimeUnit.SECONDS)
                .probe(ProbeRequest.getDefaultInstance()).getReady().getValue()) {
              break;
            }
          } catch (StatusRuntimeException notYet) {
            // the socket file exists a moment before the server accepts
          }
          if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(60)) {
            throw new IllegalStateException("not ready after 60 s: "
                + Files.readString(work.resolve("driver.log")));
          }
          Thread.sleep(1);
        }
        readyMs = (System.nanoTime() - start) / 1e6;
        readyCpuMs = cpuTicks(driver.pid())[0] * 1000 / TICKS_PER_SECOND;
        toReady = api.takeRequests();
        // What the registrar, the liveness probe and the kubelet ask a new node plugin.
        NodeGrpc.NodeBlockingStub node = NodeGrpc.newBlockingStub(channel);
        identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
        node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance());
        node.nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance());
        identity.probe(ProbeRequest.getDefaultInstance());
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      long[] before = cpuTicks(driver.pid());
      long idleStart = System.nanoTime();
      Thread.sleep(TimeUnit.SECONDS.toMillis(idleSeconds));
      long[] after = cpuTicks(driver.pid());
      double seconds = (System.nanoTime() - idleStart) / 1e9;
      Map<String, Long> status = status(driver.pid());
      if (!jcmd.isEmpty()) {
        List<String> command = new ArrayList<>(List.of(
            Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
            Long.toString(driver.pid())));
        command.addAll(List.of(jcmd.split(" ")));
        new ProcessBuilder(command).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve("jcmd.txt").toFile()))
            .start().waitFor();
      }
      return new Sample(readyMs, readyCpuMs, toReady,
          percent(after[0] - before[0], seconds), percent(after[1] - before[1], seconds),
          api.takeRequests(), status.get("VmRSS") / 1024.0, status.get("RssAnon") / 1024.0,
          status.get("RssFile") / 1024.0);
    } finally {
      driver.destroy();
      if (!driver.waitFor(30, TimeUnit.SECONDS)) {
        driver.destroyForcibly();
      }
    }
  }

  private static double percent(long ticks, double seconds) {
    return seconds <= 0 ? 0 : 100 * ticks / TICKS_PER_SECOND / seconds;
  }

  /** utime + stime of the process, and cutime + cstime of its waited-for children. */
  private static long[] cpuTicks(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    // Fields after the command name in parentheses, which may hold spaces; utime is field 14.
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return new long[] {Long.parseLong(f[11]) + Long.parseLong(f[12]),
        Long.parseLong(f[13]) + Long.parseLong(f[14])};
  }

  /** The kB fields of /proc/PID/status (VmRSS, RssAnon, RssFile...). */
  private static Map<String, Long> status(long pid) throws IOException {
    Map<String, Long> kib = new HashMap<>();
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (line.endsWith(" kB")) {
        kib.put(line.substring(0, line.indexOf(':')),
            Long.parseLong(line.replaceAll("[^0-9]", "")));
      }
    }
    return kib;
  }

  private static String loadAverage() throws IOException {
    return Files.readString(Path.of("/proc/loadavg")).strip();
  }

  private static double median(List<Sample> samples,
      java.util.function.ToDoubleFunction<Sample> value) {
    double[] sorted = samples.stream().mapToDouble(value).sorted().toArray();
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
