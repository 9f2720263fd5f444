package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.IdentityGrpc;
import csi.v1.NodeGrpc;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeStageVolumeResponse;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.grpc.CallOptions;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

class CallInterceptorTest {

  /** An Identity service whose GetPluginInfo does whatever the test asks. */
  private static final class Scripted extends IdentityGrpc.IdentityImplBase {
    private final Consumer<StreamObserver<GetPluginInfoResponse>> behaviour;

    Scripted(Consumer<StreamObserver<GetPluginInfoResponse>> behaviour) {
      this.behaviour = behaviour;
    }

    @Override
    public void getPluginInfo(GetPluginInfoRequest r, StreamObserver<GetPluginInfoResponse> o) {
      behaviour.accept(o);
    }
  }

  private static StatusRuntimeException fail(Consumer<StreamObserver<GetPluginInfoResponse>> b,
      List<String> observed) throws Exception {
    try (InProcessCsi csi = new InProcessCsi(
        (method, code, took) -> observed.add(method + " " + code), List.of(new Scripted(b)))) {
      return assertThrows(StatusRuntimeException.class, () -> IdentityGrpc
          .newBlockingStub(csi.channel()).getPluginInfo(GetPluginInfoRequest.getDefaultInstance()));
    }
  }

  @Test
  void aThrownStorageExceptionIsMappedByKindWithTheToolsStderr() throws Exception {
    List<String> observed = new ArrayList<>();
    StatusRuntimeException e = fail(o -> {
      throw StorageException.ofCommand(ErrorKind.EXHAUSTED, "thin pool pve/data is full",
          List.of("lvcreate", "-V", "1g"), 5, "Insufficient free space");
    }, observed);
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().endsWith("Insufficient free space"),
        e.getStatus().getDescription());
    assertEquals(List.of("GetPluginInfo RESOURCE_EXHAUSTED"), observed);
  }

  @Test
  void anUnexpectedExceptionIsInternalNeverUnknown() throws Exception {
    List<String> observed = new ArrayList<>();
    StatusRuntimeException e = fail(o -> {
      throw new IllegalStateException("bug");
    }, observed);
    assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("IllegalStateException: bug"));
    assertEquals(List.of("GetPluginInfo INTERNAL"), observed);
  }

  @Test
  void aForeignExceptionPassedToOnErrorIsInternalNeverUnknown() throws Exception {
    StatusRuntimeException e = fail(o -> o.onError(new ArithmeticException("overflow")),
        new ArrayList<>());
    assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("overflow"), e.getStatus().getDescription());
  }

  @Test
  void aStorageExceptionPassedToOnErrorKeepsItsKind() throws Exception {
    StatusRuntimeException e = fail(
        o -> o.onError(new StorageException(ErrorKind.ABORTED, "lock held by pod-1")),
        new ArrayList<>());
    assertEquals(Status.Code.ABORTED, e.getStatus().getCode());
    assertEquals("lock held by pod-1", e.getStatus().getDescription());
  }

  @Test
  void secretsAndMountFlagsNeverReachTheLog() {
    NodeStageVolumeRequest request = NodeStageVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-0-pvc-1")
        .putSecrets("password", "hunter2")
        .setVolumeCapability(VolumeCapability.newBuilder().setMount(
            VolumeCapability.MountVolume.newBuilder().addMountFlags("key=hunter2")))
        .build();
    String logged = Redaction.redact(request).toString();
    assertTrue(logged.contains("local-lvm:vm-0-pvc-1"));
    assertTrue(!logged.contains("hunter2"), logged);
  }

  /** The records the interceptor logs while {@code body} runs. */
  private static List<LogRecord> logged(ThrowingRunnable body) throws Exception {
    List<LogRecord> records = new CopyOnWriteArrayList<>();
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord record) {
        records.add(record);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    Logger logger = Logger.getLogger(CallInterceptor.class.getName());
    logger.addHandler(capture);
    try {
      body.run();
    } finally {
      logger.removeHandler(capture);
    }
    return records;
  }

  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  @Test
  void echoedRequestTextIsBoundedAndEscapedInTheStatusAndTheLog() throws Exception {
    String id = "vm-0-" + "x".repeat(1 << 20) + " and\nINFO CsiServer: forged line";
    List<StatusRuntimeException> failures = new ArrayList<>();
    List<LogRecord> records = logged(() -> failures.add(fail(o -> {
      throw new StorageException(ErrorKind.INVALID, "volume ID '" + id + "' is wrong; fix it");
    }, new ArrayList<>())));
    String description = failures.getFirst().getStatus().getDescription();
    assertTrue(description.length() < 400, description.length() + " characters");
    assertTrue(description.startsWith("volume ID 'vm-0-xxx"), description);
    assertTrue(description.endsWith(" ... (1048582 bytes) and\\nINFO CsiServer: forged line' "
        + "is wrong; fix it"), description);
    assertEquals(1, records.size());
    String message = records.getFirst().getMessage();
    assertTrue(message.endsWith(description), message);
    assertFalse(message.contains("\n"), "one log line");
  }

  @Test
  void secretsAndMountFlagValuesNeverReachTheStatusOrTheLog() throws Exception {
    NodeGrpc.NodeImplBase echoing = new NodeGrpc.NodeImplBase() {
      @Override
      public void nodeStageVolume(NodeStageVolumeRequest request,
          StreamObserver<NodeStageVolumeResponse> response) {
        throw new StorageException(ErrorKind.INVALID, "mount flags "
            + request.getVolumeCapability().getMount().getMountFlagsList()
            + " are not allowed; secrets " + request.getSecretsMap());
      }
    };
    NodeStageVolumeRequest request = NodeStageVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-0-pvc-1")
        .putSecrets("password", "s3cr3t-value")
        .setVolumeCapability(VolumeCapability.newBuilder().setMount(
            VolumeCapability.MountVolume.newBuilder().addMountFlags("noatime")
                .addMountFlags("password=hunter2")))
        .build();
    List<StatusRuntimeException> failures = new ArrayList<>();
    List<LogRecord> records = logged(() -> {
      try (InProcessCsi csi = new InProcessCsi(RpcObserver.NONE, List.of(echoing))) {
        failures.add(assertThrows(StatusRuntimeException.class,
            () -> NodeGrpc.newBlockingStub(csi.channel()).nodeStageVolume(request)));
      }
    });
    String description = failures.getFirst().getStatus().getDescription();
    assertEquals("mount flags [noatime, password=<redacted>] are not allowed; secrets "
        + "{password=<redacted>}", description);
    assertEquals(1, records.size());
    assertFalse(records.getFirst().getMessage().contains("hunter2"));
    assertFalse(records.getFirst().getMessage().contains("s3cr3t"));
  }

  /** GetPluginInfo with raw bytes as the request, as a broken or hostile client sends them. */
  private static StatusRuntimeException sendBytes(byte[] request, List<String> observed,
      AtomicInteger handled) throws Exception {
    try (InProcessCsi csi = new InProcessCsi(
        (name, code, took) -> observed.add(name + " " + code),
        List.of(new Scripted(o -> {
          handled.incrementAndGet();
          o.onNext(GetPluginInfoResponse.getDefaultInstance());
          o.onCompleted();
        })))) {
      return assertThrows(StatusRuntimeException.class, () -> csi.callWithBytes(
          IdentityGrpc.getGetPluginInfoMethod(), request, CallOptions.DEFAULT));
    }
  }

  @Test
  void aRequestThatDoesNotParseIsInvalidArgumentAndNoHandlerRuns() throws Exception {
    for (byte[] bytes : List.of(new byte[] {(byte) 0xff, (byte) 0xff, 1, 2},
        new byte[] {0x0a, 0x05, 'a'}, new byte[] {0x08, (byte) 0x80})) {
      List<String> observed = new ArrayList<>();
      AtomicInteger handled = new AtomicInteger();
      StatusRuntimeException e = sendBytes(bytes, observed, handled);
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
      assertTrue(e.getStatus().getDescription().startsWith("the request is not a valid "
          + "csi.v1.Identity/GetPluginInfo request"), e.getStatus().getDescription());
      assertEquals(List.of("GetPluginInfo INVALID_ARGUMENT"), observed);
      assertEquals(0, handled.get());
    }
  }

  @Test
  void requestBytesThatDoParseStillReachTheHandler() throws Exception {
    AtomicInteger handled = new AtomicInteger();
    List<String> observed = new ArrayList<>();
    // An unknown field is no error: newer COs may send fields this driver does not know.
    try (InProcessCsi csi = new InProcessCsi((name, code, took) -> observed.add(name + " " + code),
        List.of(new Scripted(o -> {
          handled.incrementAndGet();
          o.onNext(GetPluginInfoResponse.getDefaultInstance());
          o.onCompleted();
        })))) {
      IdentityGrpc.newBlockingStub(csi.channel()).getPluginInfo(GetPluginInfoRequest.newBuilder()
          .setUnknownFields(com.google.protobuf.UnknownFieldSet.newBuilder().addField(99,
              com.google.protobuf.UnknownFieldSet.Field.newBuilder().addVarint(7).build())
              .build()).build());
    }
    assertEquals(1, handled.get());
    assertEquals(List.of("GetPluginInfo OK"), observed);
  }
}
