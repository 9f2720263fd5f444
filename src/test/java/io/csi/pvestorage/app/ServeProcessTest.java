package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.ControllerGrpc;
import csi.v1.ValidateVolumeCapabilitiesRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.csi.RawRequests;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver as a real process: exit codes, one-line errors, SIGTERM handling and the refusal to
 * start a second instance on one socket.
 */
class ServeProcessTest {

  @TempDir Path dir;

  private Process launch(Path log, String... args) throws IOException {
    return launch(List.of(), log, args);
  }

  private Process launch(List<String> jvmOptions, Path log, String... args) throws IOException {
    List<String> argv = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED"));
    argv.addAll(jvmOptions);
    argv.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
    argv.addAll(List.of(args));
    return new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private String run(String... args) throws Exception {
    Path log = Files.createTempFile(dir, "out", ".log");
    Process p = launch(log, args);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    return p.exitValue() + " " + Files.readString(log, StandardCharsets.UTF_8).strip();
  }

  private static void awaitFile(Path file, boolean present) throws InterruptedException {
    Instant until = Instant.now().plus(Duration.ofSeconds(20));
    while (Files.exists(file) != present && Instant.now().isBefore(until)) {
      Thread.sleep(20);
    }
    assertEquals(present, Files.exists(file), file.toString());
  }

  @Test
  void aBadFlagExitsTwoWithOneLine() throws Exception {
    assertEquals("2 pve-storage-csi: error: --mode: 'master' is not one of node, controller, all",
        run("serve", "--mode=master"));
    assertEquals("2 pve-storage-csi: error: unknown flag --nodeid (see --help for the flags)",
        run("serve", "--nodeid=n1"));
  }

  @Test
  void aBrokenStorageConfigExitsOneNamingTheLine() throws Exception {
    Path cfg = dir.resolve("storage.cfg");
    Files.writeString(cfg, "lvmthin: local-lvm\n\tvgname pve\n");
    String result = run("serve", "--endpoint=unix://" + dir.resolve("csi.sock"), "--node-id=n1",
        "--storage-config=" + cfg, "--metrics-address=");
    assertTrue(result.startsWith("1 "), result);
    assertTrue(result.contains(cfg + ":1: lvmthin storage 'local-lvm' lacks the required key "
        + "'thinpool'"), result);
  }

  /** Starts {@code serve} on {@code csi.sock} in the temp dir with a one-storage config. */
  private Process serve(Path log, String... extra) throws IOException {
    Path cfg = dir.resolve("storage.cfg");
    Files.writeString(cfg, "zfspool: local-zfs\n\tpool rpool/data\n");
    List<String> args = new ArrayList<>(List.of("serve", "--endpoint=unix://" + socket(),
        "--node-id=n1", "--storage-config=" + cfg, "--lock=local"));
    args.addAll(List.of(extra));
    return launch(log, args.toArray(String[]::new));
  }

  private Path socket() {
    return dir.resolve("csi.sock");
  }

  @Test
  void metricsOfARunningDriverCountItsCalls() throws Exception {
    Path log = dir.resolve("metrics.log");
    // This machine has no zfs: the tool check is off here and has its own test below.
    Process driver = serve(log, "--metrics-address=127.0.0.1:0", "--check-tools=false");
    try {
      Pattern announced = Pattern.compile("metrics on http://127.0.0.1:(\\d+)/metrics");
      Instant until = Instant.now().plus(Duration.ofSeconds(30));
      String port = null;
      while (port == null && Instant.now().isBefore(until)) {
        Matcher m = announced.matcher(Files.readString(log));
        if (m.find()) {
          port = m.group(1);
        } else {
          Thread.sleep(50);
        }
      }
      assertTrue(port != null, "metrics port never announced: " + Files.readString(log));
      assertEquals("0 ", run("client", "--endpoint=unix://" + socket(), "probe").substring(0, 2));
      HttpResponse<String> scrape = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, scrape.statusCode());
      // The constant node label of every series: the controller has no node ID, so the pod's node
      // (NODE_NAME) or its host name.
      assertTrue(Pattern.compile("(?m)^pve_csi_rpc_duration_seconds_count\\{code=\"OK\","
          + "method=\"Probe\",node=\"[^\"]+\"} 1").matcher(scrape.body()).find(), scrape.body());
    } finally {
      driver.destroy();
      driver.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /**
   * Issue 13 point 7 at the chart's heap (-Xmx128m, which also bounds Netty's direct memory):
   * 60 requests of 3.5 MB at once exhausted it before; now each is refused with
   * RESOURCE_EXHAUSTED and the driver keeps answering.
   */
  @Test
  void sixtyHugeRequestsAreRefusedUnderTheChartsHeapAndTheDriverStaysHealthy() throws Exception {
    Path log = dir.resolve("huge.log");
    Process driver = launch(List.of("-Xmx128m"), log, "serve", "--mode=controller",
        "--endpoint=unix://" + socket(), "--metrics-address=");
    EpollEventLoopGroup loop = new EpollEventLoopGroup(2);
    List<ManagedChannel> channels = new ArrayList<>();
    try {
      awaitFile(socket(), true);
      for (int i = 0; i < 60; i++) {
        channels.add(NettyChannelBuilder.forAddress(new DomainSocketAddress(socket().toString()))
            .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext()
            .build());
      }
      assertEquals(java.util.Map.of(Status.Code.RESOURCE_EXHAUSTED, 60),
          CsiServerLimitsTest.createHugeVolumesAtOnce(channels, new ArrayList<>()));
      assertTrue(driver.isAlive(), Files.readString(log));
      String probe = run("client", "--endpoint=unix://" + socket(), "probe");
      assertTrue(probe.startsWith("0 "), probe);
      assertFalse(Files.readString(log).contains("OutOfMemoryError"), Files.readString(log));
    } finally {
      channels.forEach(ManagedChannel::shutdownNow);
      loop.shutdownGracefully();
      driver.destroy();
      driver.waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void storageToolsThatCannotRunKeepTheDriverNotReadyWithTheReasonLoggedAndCounted()
      throws Exception {
    Path log = dir.resolve("tools.log");
    String prefix = dir.resolve("no-such-prefix").toString();
    Process driver = serve(log, "--metrics-address=127.0.0.1:0", "--command-prefix=" + prefix);
    try {
      String port = awaitLog(log, Pattern.compile("metrics on http://127.0.0.1:(\\d+)/metrics"));
      String reason = awaitLog(log, Pattern.compile("not ready until the storage tools are fixed"
          + "[^:]*: (zfs cannot be run through the command prefix '" + Pattern.quote(prefix)
          + "'.*)"));
      assertTrue(reason.contains("the prefix's program " + prefix + " must exist in the image"),
          reason);
      String probe = run("client", "--endpoint=unix://" + socket(), "probe");
      assertTrue(probe.startsWith("1 "), "Probe is not ready: " + probe);
      String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(Pattern.compile("(?m)^pve_csi_tool_ok\\{backend=\"zfspool\",node=\"[^\"]+\","
          + "tool=\"zfs\"} 0.0").matcher(metrics).find(), metrics);
    } finally {
      driver.destroy();
      driver.waitFor(30, TimeUnit.SECONDS);
    }
  }

  /** Waits for a log line matching the pattern; its first group. */
  private static String awaitLog(Path log, Pattern pattern) throws Exception {
    Instant until = Instant.now().plus(Duration.ofSeconds(30));
    while (Instant.now().isBefore(until)) {
      Matcher m = pattern.matcher(Files.readString(log));
      if (m.find()) {
        return m.group(1);
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no line matching " + pattern + " in:\n" + Files.readString(log));
  }

  @Test
  void controllerModeAnswersCapabilitiesAndNothingElse() throws Exception {
    Process driver = launch(dir.resolve("controller.log"), "serve", "--mode=controller",
        "--endpoint=unix://" + socket(), "--metrics-address=");
    try {
      awaitFile(socket(), true);
      String info = run("client", "--endpoint=unix://" + socket(), "info");
      assertTrue(info.startsWith("0 "), info);
      assertTrue(info.contains("CONTROLLER_SERVICE") && info.contains("CREATE_DELETE_VOLUME")
          && info.contains("EXPAND_VOLUME"), "csi-resizer learns that the node expands: " + info);
      String create = run("client", "--endpoint=unix://" + socket(), "create-volume", "v",
          "--size", "1Gi", "--storage", "local-lvm");
      assertTrue(!create.startsWith("0 ") && create.contains("UNIMPLEMENTED"), create);
    } finally {
      driver.destroy();
      driver.waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void sigtermStopsGracefullyWithExitZeroAndASecondInstanceIsRefused() throws Exception {
    Path log = dir.resolve("first.log");
    Process first = serve(log, "--metrics-address=");
    try {
      awaitFile(socket(), true);

      Path secondLog = dir.resolve("second.log");
      Process second = serve(secondLog, "--metrics-address=");
      assertTrue(second.waitFor(30, TimeUnit.SECONDS));
      String secondOut = Files.readString(secondLog);
      assertEquals(1, second.exitValue(), secondOut);
      assertTrue(secondOut.contains("another pve-storage-csi process is serving " + socket()),
          secondOut);
      assertTrue(Files.exists(socket()), "the second instance left the socket alone");
      assertTrue(first.isAlive());

      first.destroy(); // SIGTERM
      assertTrue(first.waitFor(30, TimeUnit.SECONDS), "stops within the grace period");
      assertEquals(0, first.exitValue(), Files.readString(log));
      assertFalse(Files.exists(socket()), "socket removed");
      assertTrue(Files.readString(log).contains("stopped"), Files.readString(log));
    } finally {
      first.destroyForcibly();
    }
  }

  /** The port a driver started on {@code tcp://127.0.0.1:0} announces in its log. */
  private static int announcedPort(Path log) throws Exception {
    Pattern serving = Pattern.compile("on tcp://127.0.0.1:(\\d+) ");
    Instant until = Instant.now().plus(Duration.ofSeconds(30));
    while (Instant.now().isBefore(until)) {
      Matcher m = serving.matcher(Files.readString(log));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      Thread.sleep(50);
    }
    throw new AssertionError("never served: " + Files.readString(log));
  }

  @Test
  void unparsableRequestsAreInvalidAndEchoedInputIsEscapedInTheLog() throws Exception {
    Path cfg = dir.resolve("storage.cfg");
    Files.writeString(cfg, "zfspool: local-zfs\n\tpool rpool/data\n");
    Path log = dir.resolve("hostile.log");
    Process driver = launch(log, "serve", "--endpoint=tcp://127.0.0.1:0", "--node-id=n1",
        "--storage-config=" + cfg, "--lock=local", "--metrics-address=");
    try {
      ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", announcedPort(log))
          .usePlaintext().build();
      try {
        StatusRuntimeException garbage = assertThrows(StatusRuntimeException.class,
            () -> RawRequests.call(channel, ControllerGrpc.getCreateVolumeMethod(),
                new byte[] {(byte) 0xff, (byte) 0xff, 1, 2},
                CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS)));
        assertEquals(Status.Code.INVALID_ARGUMENT, garbage.getStatus().getCode(),
            garbage.getStatus().toString());

        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class,
            () -> ControllerGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest.newBuilder()
                    .setVolumeId("local-zfs:vm-0-x\nFORGED ERROR line")
                    .addVolumeCapabilities(VolumeCapability.newBuilder()
                        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance()))
                    .build()));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
      } finally {
        channel.shutdownNow();
      }
      String written = Files.readString(log);
      assertTrue(written.contains("local-zfs:vm-0-x\\nFORGED ERROR line"), written);
      assertTrue(written.lines().noneMatch(l -> l.startsWith("FORGED")), written);
    } finally {
      driver.destroy();
      driver.waitFor(30, TimeUnit.SECONDS);
    }
  }
}
