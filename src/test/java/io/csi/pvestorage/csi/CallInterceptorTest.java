package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.IdentityGrpc;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
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
}
