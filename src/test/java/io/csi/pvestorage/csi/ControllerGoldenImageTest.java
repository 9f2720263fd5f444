package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListVolumesRequest;
import csi.v1.Snapshot;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Golden images through the Controller service over an in-memory storage (gRPC in-process, the
 * real interceptor, the storage lock asserted on every mutating call): the VolumeSnapshotClass
 * parameter {@code base}, the ID, the listings, the linked clone at any size at or above the
 * base's, and the delete, with the status codes and what the storage is asked to do.
 */
class ControllerGoldenImageTest {

  private static final long GIB = 1L << 30;
  private static final String SOURCE = "local-lvm:vm-0-pvc-src";
  private static final String GOLDEN = "local-lvm:base-0-disk-0@golden";

  @TempDir Path lockDir;

  private final MemoryStoragePlugin lvm = new MemoryStoragePlugin("local-lvm", "lvmthin");
  private LocalStorageLock lock;
  private InProcessCsi csi;
  private ControllerGrpc.ControllerBlockingStub controller;

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, new LockObserver() {});
    lvm.lockCheck(() -> lock.currentHandle("local-lvm").isPresent());
    csi = new InProcessCsi((method, code, took) -> { }, List.of(new ControllerService(
        new NodeStorages("node-a", List.of(lvm), lock, Duration.ofSeconds(5), clock),
        new InFlight())));
    controller = ControllerGrpc.newBlockingStub(csi.channel());
    lvm.put("vm-0-pvc-src", ImageFormat.RAW, GIB, Optional.of(VolumeMetadata.of("pvc-src")));
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
    lock.close();
  }

  private Snapshot golden(String name, String source, String base) {
    return controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName(name)
        .setSourceVolumeId(source).putParameters("base", base).build()).getSnapshot();
  }

  private CreateVolumeRequest fromGolden(String name, long required, String snapshotId) {
    return CreateVolumeRequest.newBuilder().setName(name)
        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(required))
        .addVolumeCapabilities(VolumeCapability.newBuilder()
            .setMount(VolumeCapability.MountVolume.getDefaultInstance())
            .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                .setMode(Mode.SINGLE_NODE_WRITER)))
        .putParameters("storage", "local-lvm")
        .setVolumeContentSource(VolumeContentSource.newBuilder().setSnapshot(
            VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(snapshotId)))
        .build();
  }

  private static StatusRuntimeException fails(Status.Code code, Supplier<?> call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::get);
    assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    return e;
  }

  private List<String> listedSnapshotIds(ListSnapshotsRequest request) {
    return controller.listSnapshots(request).getEntriesList().stream()
        .map(e -> e.getSnapshot().getSnapshotId()).toList();
  }

  @Test
  void baseTrueMakesAGoldenImageNamedByItsBaseWithItsSourceAndSize() {
    Snapshot made = golden("snap-g", SOURCE, "true");
    assertEquals(GOLDEN, made.getSnapshotId());
    assertEquals(SOURCE, made.getSourceVolumeId());
    assertEquals(GIB, made.getSizeBytes());
    assertTrue(made.getReadyToUse());
    assertEquals(made, golden("snap-g", SOURCE, "true"), "a retry answers the same image");
    assertEquals(List.of("golden vm-0-pvc-src", "golden vm-0-pvc-src"), lvm.calls());
    assertTrue(lvm.has("vm-0-pvc-src"), "the source stays a volume of its own");
  }

  @Test
  void listedAsASnapshotOfItsSourceAndNeverAsAVolume() {
    golden("snap-g", SOURCE, "true");
    assertEquals(List.of(GOLDEN), listedSnapshotIds(ListSnapshotsRequest.getDefaultInstance()));
    assertEquals(List.of(GOLDEN), listedSnapshotIds(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(SOURCE).build()));
    assertEquals(List.of(GOLDEN), listedSnapshotIds(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(GOLDEN).build()));
    assertEquals(List.of(), listedSnapshotIds(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId("local-lvm:base-0-disk-0").build()));
    assertEquals(List.of(SOURCE), controller.listVolumes(ListVolumesRequest.getDefaultInstance())
        .getEntriesList().stream().map(e -> e.getVolume().getVolumeId()).toList());
  }

  @Test
  void aVolumeFromItIsALinkedCloneOfTheBaseGrownToTheRequest() {
    golden("snap-g", SOURCE, "true");
    csi.v1.Volume clone = controller.createVolume(fromGolden("pvc-c", 2 * GIB, GOLDEN))
        .getVolume();
    assertEquals("local-lvm:vm-0-pvc-c", clone.getVolumeId());
    assertEquals(2 * GIB, clone.getCapacityBytes());
    assertEquals(GOLDEN, clone.getContentSource().getSnapshot().getSnapshotId());
    assertEquals(List.of("golden vm-0-pvc-src", "clone base-0-disk-0@ vm-0-pvc-c",
        "resize vm-0-pvc-c " + 2 * GIB), lvm.calls());
  }

  @Test
  void aVolumeSmallerThanTheBaseIsOutOfRangeBeforeAnyCommand() {
    golden("snap-g", SOURCE, "true");
    StatusRuntimeException e = fails(Status.Code.OUT_OF_RANGE,
        () -> controller.createVolume(fromGolden("pvc-c", GIB / 2, GOLDEN)));
    assertTrue(e.getStatus().getDescription().contains("at least " + GIB), e.getMessage());
    assertEquals(List.of("golden vm-0-pvc-src"), lvm.calls());
  }

  @Test
  void onlyTrueOrFalseAndRefusedBeforeAnything() {
    StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT,
        () -> golden("snap-g", SOURCE, "yes"));
    assertTrue(e.getStatus().getDescription().contains("'base'"), e.getMessage());
    fails(Status.Code.INVALID_ARGUMENT, () -> golden("snap-g", SOURCE, "True"));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createSnapshot(CreateSnapshotRequest
        .newBuilder().setName("s").setSourceVolumeId(SOURCE).putParameters("bases", "true")
        .build()));
    assertEquals(List.of(), lvm.calls());
    assertEquals(SOURCE + "@snap-o", golden("snap-o", SOURCE, "false").getSnapshotId(),
        "false is an ordinary snapshot");
  }

  @Test
  void aBaseIsNoVolume() {
    golden("snap-g", SOURCE, "true");
    String base = "local-lvm:base-0-disk-0";
    fails(Status.Code.NOT_FOUND, () -> golden("snap-2", base, "true"));
    fails(Status.Code.NOT_FOUND, () -> golden("snap-3", base, "false"));
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(fromGolden("pvc-c", GIB, GOLDEN)
        .toBuilder().setVolumeContentSource(VolumeContentSource.newBuilder().setVolume(
            VolumeContentSource.VolumeSource.newBuilder().setVolumeId(base))).build()));
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(base).build());
    assertEquals(List.of("golden vm-0-pvc-src"), lvm.calls());
    assertTrue(lvm.has("base-0-disk-0"), "only DeleteSnapshot removes a golden image");
  }

  @Test
  void aNameOfAnOrdinarySnapshotIsNotReusedForAGoldenImage() {
    golden("snap-o", SOURCE, "false");
    fails(Status.Code.ALREADY_EXISTS, () -> golden("snap-o", SOURCE, "true"));
  }

  @Test
  void deleteSnapshotRemovesTheBaseAndLeavesItsClones() {
    golden("snap-g", SOURCE, "true");
    controller.createVolume(fromGolden("pvc-c", GIB, GOLDEN));
    controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(GOLDEN).build());
    assertFalse(lvm.has("base-0-disk-0"));
    assertTrue(lvm.has("vm-0-pvc-c"));
    assertEquals(List.of(), listedSnapshotIds(ListSnapshotsRequest.getDefaultInstance()));
    controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(GOLDEN).build());
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(fromGolden("pvc-d", GIB, GOLDEN)));
    assertEquals(List.of("golden vm-0-pvc-src", "clone base-0-disk-0@ vm-0-pvc-c",
        "free base-0-disk-0"), lvm.calls(), "the second delete found nothing to remove");
  }

  @Test
  void aBaseWithoutCsiNameIsNeitherListedNorDeleted() {
    lvm.put("base-100-disk-0", ImageFormat.RAW, GIB, Optional.empty());
    String template = "local-lvm:base-100-disk-0@golden";
    assertEquals(List.of(), listedSnapshotIds(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(template).build()));
    fails(Status.Code.FAILED_PRECONDITION, () -> controller.deleteSnapshot(
        DeleteSnapshotRequest.newBuilder().setSnapshotId(template).build()));
    assertTrue(lvm.has("base-100-disk-0"));
  }
}
