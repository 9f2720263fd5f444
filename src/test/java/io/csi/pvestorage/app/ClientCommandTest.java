package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateSnapshotResponse;
import io.csi.pvestorage.app.Flags.UsageException;
import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.IdentityService;
import io.csi.pvestorage.csi.Readiness;
import io.csi.pvestorage.csi.RpcObserver;
import io.csi.pvestorage.storage.ByteQuantity;
import io.grpc.stub.StreamObserver;
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
  void usageErrorsNameTheProblemAndTheHelpToRead() {
    assertEquals("Missing required parameter: 'NAME' (see client create-volume --help)",
        assertThrows(UsageException.class, () -> client("create-volume")).getMessage());
    assertEquals("Invalid value for option '--size': '1 GB' is not a size; use "
        + ByteQuantity.EXAMPLES + " (see client create-volume --help)",
        assertThrows(UsageException.class, () -> client("create-volume", "v", "--size", "1 GB"))
            .getMessage());
    assertEquals("--block and --fs-type exclude each other (see client create-volume --help)",
        assertThrows(UsageException.class,
            () -> client("create-volume", "v", "--block", "--fs-type", "xfs")).getMessage());
    assertTrue(assertThrows(UsageException.class, () -> client("create-volume", "v",
        "--from-snapshot", "s", "--from-volume", "w")).getMessage()
        .contains("mutually exclusive"));
    assertEquals("Unmatched argument at index 2: 'mkvol' (see client --help)",
        assertThrows(UsageException.class, () -> client("mkvol")).getMessage());
    assertEquals("Missing required option: '--staging-path=P' (see client stage --help)",
        assertThrows(UsageException.class, () -> client("stage", "v")).getMessage());
    assertTrue(assertThrows(UsageException.class,
        () -> client("list-volumes", "--max-entries", "-1")).getMessage()
        .startsWith("--max-entries: '-1' must be a non-negative integer"));
  }

  @Test
  void everyCommandHasItsOwnHelp() {
    assertEquals(0, client("--help"));
    for (String command : List.of("info", "probe", "node-info", "create-volume",
        "delete-volume", "list-volumes", "capacity", "create-snapshot", "delete-snapshot",
        "list-snapshots", "stage", "unstage", "publish", "unpublish", "stats", "expand")) {
      assertTrue(out().contains("\n  " + command + " ") || out().contains("\n  " + command
          + "\n"), command + " is listed in client --help:\n" + out());
    }
    out.reset();
    assertEquals(0, client("create-volume", "--help"));
    assertTrue(out().startsWith("Usage: client create-volume "), out());
    for (String option : List.of("--size=S", "--limit=S", "--storage=ID", "--from-snapshot=ID",
        "--from-volume=ID", "--param=K=V", "--fs-type=T", "--block", "--endpoint=E", "--json")) {
      assertTrue(out().contains(option), option + " in create-volume --help:\n" + out());
    }
    out.reset();
    assertEquals(0, client("expand", "-h"));
    assertTrue(out().startsWith("Usage: client expand ") && !out().contains("--from-snapshot"),
        out());
  }

  /** A VolumeSnapshotClass's parameters reach CreateSnapshot, as {@code base=true} must. */
  @Test
  void createSnapshotPassesTheClassParameters() throws Exception {
    List<CreateSnapshotRequest> received = new java.util.concurrent.CopyOnWriteArrayList<>();
    ControllerGrpc.ControllerImplBase controller = new ControllerGrpc.ControllerImplBase() {
      @Override
      public void createSnapshot(CreateSnapshotRequest request,
          StreamObserver<CreateSnapshotResponse> response) {
        received.add(request);
        response.onNext(CreateSnapshotResponse.getDefaultInstance());
        response.onCompleted();
      }
    };
    CsiServer withController = CsiServer.start(new Endpoint.Tcp("127.0.0.1", 0),
        PosixFilePermissions.fromString("rw-rw----"), List.of(controller), List.of());
    try {
      int status = ClientCommand.run(List.of("--endpoint", withController.endpoint().toString(),
              "create-snapshot", "golden", "--source", "local-lvm:vm-0-a", "--param", "base=true"),
          Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
          new PrintStream(err, true, StandardCharsets.UTF_8));
      assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
      assertEquals(1, received.size());
      assertEquals("golden", received.get(0).getName());
      assertEquals("local-lvm:vm-0-a", received.get(0).getSourceVolumeId());
      assertEquals(Map.of("base", "true"), received.get(0).getParametersMap());
    } finally {
      withController.stop(Duration.ofSeconds(1));
    }
  }

  @Test
  void withoutACommandTheHelpIsPrintedAndTheExitIsTwo() {
    assertEquals(2, client());
    assertTrue(out().startsWith("Usage: client "), out());
  }

  @Test
  void theEndpointAndOutputOptionsMayFollowTheCommand() {
    readiness.markReady();
    int status = ClientCommand.run(List.of("probe", "--json", "--endpoint", endpoint), Map.of(),
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
    assertEquals("{\n  \"ready\": true\n}\n", out());
  }

  @Test
  void theEndpointComesFromCsiEndpointWhenNotGiven() {
    readiness.markReady();
    int status = ClientCommand.run(List.of("probe"), Map.of("CSI_ENDPOINT", endpoint),
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
    assertTrue(out().contains("ready"), out());
  }

  @Test
  void sizesAreKubernetesQuantities() {
    ClientCommand.Size size = new ClientCommand.Size();
    assertEquals(1L << 30, size.convert("1Gi"));
    assertEquals(512L << 20, size.convert("512Mi"));
    assertEquals(10_000_000_000L, size.convert("10G"));
    assertEquals(3L << 29, size.convert("1.5Gi"));
    assertEquals(4096, size.convert("4096"));
  }
}
