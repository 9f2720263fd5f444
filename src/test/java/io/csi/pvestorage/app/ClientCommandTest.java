package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.app.Flags.UsageException;
import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.IdentityService;
import io.csi.pvestorage.csi.Readiness;
import io.csi.pvestorage.csi.RpcObserver;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The client CLI against a real (TCP) server serving Identity only. */
class ClientCommandTest {

  private final Readiness readiness = new Readiness();
  private CsiServer server;
  private String endpoint;
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  @BeforeEach
  void start() throws Exception {
    server = CsiServer.start(new Endpoint.Tcp("127.0.0.1", 0),
        PosixFilePermissions.fromString("rw-rw----"),
        List.of(new IdentityService("pve-storage.csi.io", "9.9", Map.of("mode", "node"), List.of(),
            readiness)),
        List.of(new CallInterceptor(RpcObserver.NONE)));
    endpoint = server.endpoint().toString();
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(1));
  }

  private int client(String... args) {
    List<String> all = new ArrayList<>(List.of("--endpoint", endpoint));
    all.addAll(List.of(args));
    return ClientCommand.run(all, Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String out() {
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void infoPrintsPluginInfoAndSkipsServicesTheEndpointDoesNotServe() {
    assertEquals(0, client("info"));
    assertTrue(out().contains("# GetPluginInfoResponse\nname: \"pve-storage.csi.io\"\n"
        + "vendor_version: \"9.9\""), out());
    assertTrue(out().contains("# GetPluginCapabilitiesResponse"), out());
    assertTrue(!out().contains("ControllerGetCapabilitiesResponse"), "UNIMPLEMENTED is skipped");
  }

  @Test
  void probeExitsOneUntilReadyAndPrintsJson() {
    assertEquals(1, client("--json", "probe"));
    readiness.markReady();
    out.reset();
    assertEquals(0, client("--json", "probe"));
    assertEquals("{\n  \"ready\": true\n}\n", out());
  }

  @Test
  void anRpcErrorIsOneLineWithTheCode() {
    assertEquals(1, client("delete-volume", "local-lvm:vm-0-x"));
    assertEquals("error: UNIMPLEMENTED: Method not found: csi.v1.Controller/DeleteVolume\n",
        err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void usageErrorsNameTheProblem() {
    assertEquals("create-volume takes 1 argument, got 0 (see client --help)",
        assertThrows(UsageException.class, () -> client("create-volume")).getMessage());
    assertEquals("--size: '1 GB' is not a size like 1Gi, 512Mi or 1073741824",
        assertThrows(UsageException.class, () -> client("create-volume", "v", "--size", "1 GB"))
            .getMessage());
    assertEquals("--block and --fs-type exclude each other", assertThrows(UsageException.class,
        () -> client("create-volume", "v", "--block", "--fs-type", "xfs")).getMessage());
    assertEquals("unknown client command 'mkvol' (see client --help)",
        assertThrows(UsageException.class, () -> client("mkvol")).getMessage());
  }

  @Test
  void sizesUseKubernetesSuffixes() {
    assertEquals(1L << 30, ClientCommand.size("1Gi", "size"));
    assertEquals(512L << 20, ClientCommand.size("512Mi", "size"));
    assertEquals(10_000_000_000L, ClientCommand.size("10G", "size"));
    assertEquals(4096, ClientCommand.size("4096", "size"));
  }
}
