package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.NodeGrpc;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodePublishVolumeResponse;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.csi.InProcessCsi;
import io.csi.pvestorage.csi.RpcObserver;
import io.grpc.stub.StreamObserver;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

/** The process's log formats: one line per record, escaped, bounded, secrets removed. */
class LoggingTest {

  private static LogRecord record(String message) {
    LogRecord record = new LogRecord(java.util.logging.Level.WARNING, message);
    record.setLoggerName("io.csi.pvestorage.csi.NodeService");
    return record;
  }

  @Test
  void aNewlineInRequestTextCannotForgeATextLine() {
    String line = new Logging.TextFormatter().format(record(
        "cannot stage 'pvc\n2026-11-24T18:00:00Z INFO  CsiServer: all good'"));
    assertTrue(line.endsWith("NodeService: cannot stage 'pvc\\n2026-11-24T18:00:00Z INFO  "
        + "CsiServer: all good'\n"), line);
    assertEquals(1, line.lines().count());
  }

  @Test
  void aJsonRecordKeepsTheEscapeVisible() {
    String json = new Logging.JsonFormatter().format(record("name 'a\tb\u0000'"));
    assertTrue(json.contains("\"msg\":\"name 'a\\\\tb\\\\u0000'\""), json);
    assertEquals(1, json.lines().count());
  }

  @Test
  void aMegabyteIdIsLoggedAsItsBeginningAndLength() {
    String line = new Logging.TextFormatter().format(record(
        "volume ID '" + "z".repeat(1 << 20) + "' does not exist"));
    assertTrue(line.length() < 500, line.length() + " characters");
    assertTrue(line.endsWith("NodeService: volume ID '" + "z".repeat(255)
        + " ... (1048578 bytes) does not exist\n"), line);
  }

  @Test
  void anExceptionMessageInAStackTraceIsEscapedToo() {
    LogRecord record = record("failed");
    record.setThrown(new IllegalStateException("bad 'x\nFORGED'",
        new RuntimeException("cause\r\nline")));
    String text = new Logging.TextFormatter().format(record);
    assertTrue(text.contains("java.lang.IllegalStateException: bad 'x\\nFORGED'\n"), text);
    assertTrue(text.contains("Caused by: java.lang.RuntimeException: cause\\r\\nline\n"), text);
    assertTrue(text.contains("\tat io.csi.pvestorage.app.LoggingTest."), text);
  }

  @Test
  void whatACallLogsLosesTheCallsSecrets() throws Exception {
    String loggerName = "io.csi.pvestorage.test.LoggingTest";
    System.Logger log = System.getLogger(loggerName);
    NodeGrpc.NodeImplBase logging = new NodeGrpc.NodeImplBase() {
      @Override
      public void nodePublishVolume(NodePublishVolumeRequest request,
          StreamObserver<NodePublishVolumeResponse> response) {
        log.log(Level.WARNING, "mount -o " + String.join(",", request.getVolumeCapability()
            .getMount().getMountFlagsList()) + " with key " + request.getSecretsMap());
        response.onNext(NodePublishVolumeResponse.getDefaultInstance());
        response.onCompleted();
      }
    };
    List<String> lines = new CopyOnWriteArrayList<>();
    Formatter format = new Logging.TextFormatter();
    // Formatted as the process's handler formats: at once, on the thread that logs.
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord record) {
        lines.add(format.format(record));
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    Logger logger = Logger.getLogger(loggerName);
    logger.addHandler(capture);
    try (InProcessCsi csi = new InProcessCsi(RpcObserver.NONE, List.of(logging))) {
      NodeGrpc.newBlockingStub(csi.channel()).nodePublishVolume(NodePublishVolumeRequest
          .newBuilder().setVolumeId("local-lvm:vm-0-a").putSecrets("key", "k3y-material")
          .setVolumeCapability(VolumeCapability.newBuilder().setMount(VolumeCapability
              .MountVolume.newBuilder().addMountFlags("ro,password=hunter2")))
          .build());
    } finally {
      logger.removeHandler(capture);
    }
    assertEquals(1, lines.size(), lines.toString());
    assertTrue(lines.getFirst().endsWith("LoggingTest: mount -o ro,password=<redacted> with key "
        + "{key=<redacted>}\n"), lines.getFirst());
    assertFalse(lines.getFirst().contains("hunter2"));
  }
}
