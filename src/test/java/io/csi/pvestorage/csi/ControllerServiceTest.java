package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CapacityRange;
import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerGrpc;
import csi.v1.ControllerServiceCapability;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.GetCapacityResponse;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListSnapshotsResponse;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.Snapshot;
import csi.v1.Topology;
import csi.v1.TopologyRequirement;
import csi.v1.ValidateVolumeCapabilitiesRequest;
import csi.v1.ValidateVolumeCapabilitiesResponse;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Controller service over in-memory storages, through gRPC in-process with the real
 * interceptor: each RPC's validation (status code pinned, nothing done to storage), idempotency,
 * restores and clones, pagination, capacity. Every mutating storage call asserts that the
 * storage lock is held.
 */
class ControllerServiceTest {

  private static final long GIB = 1L << 30;
  private static final Map<String, String> LVM = Map.of("storage", "local-lvm");
  private static final Map<String, String> ZFS = Map.of("storage", "local-zfs");

  @TempDir Path lockDir;

  private final MemoryStoragePlugin lvm = new MemoryStoragePlugin("local-lvm", "lvmthin");
  private final MemoryStoragePlugin zfs = new MemoryStoragePlugin("local-zfs", "zfspool");
  private final InFlight inFlight = new InFlight();
  private LocalStorageLock lock;
  private InProcessCsi csi;
  private ControllerGrpc.ControllerBlockingStub controller;

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, new LockObserver() {});
    lvm.lockCheck(() -> lock.currentHandle("local-lvm").isPresent());
    zfs.lockCheck(() -> lock.currentHandle("local-zfs").isPresent());
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm, zfs), lock,
        Duration.ofSeconds(5), clock);
    csi = new InProcessCsi((method, code, took) -> { },
        List.of(new ControllerService(storages, inFlight)));
    controller = ControllerGrpc.newBlockingStub(csi.channel());
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
    lock.close();
  }

  // ---- request builders ----------------------------------------------------------------------

  private static VolumeCapability mount(String fs, Mode mode) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
        .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(mode)).build();
  }

  private static VolumeCapability mount() {
    return mount("", Mode.SINGLE_NODE_WRITER);
  }

  private static VolumeCapability block() {
    return VolumeCapability.newBuilder()
        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
            .setMode(Mode.SINGLE_NODE_WRITER)).build();
  }

  private static CreateVolumeRequest.Builder create(String name, long required,
      Map<String, String> parameters) {
    return CreateVolumeRequest.newBuilder().setName(name)
        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(required))
        .addVolumeCapabilities(mount()).putAllParameters(parameters);
  }

  private static VolumeContentSource fromSnapshot(String id) {
    return VolumeContentSource.newBuilder().setSnapshot(
        VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(id)).build();
  }

  private static VolumeContentSource fromVolume(String id) {
    return VolumeContentSource.newBuilder().setVolume(
        VolumeContentSource.VolumeSource.newBuilder().setVolumeId(id)).build();
  }

  private Snapshot snapshot(String name, String source) {
    return controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName(name)
        .setSourceVolumeId(source).build()).getSnapshot();
  }

  private static StatusRuntimeException fails(Status.Code code, Supplier<?> call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::get);
    assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    return e;
  }

  private void nothingDone() {
    assertEquals(List.of(), lvm.calls());
    assertEquals(List.of(), zfs.calls());
  }

  // ---- CreateVolume --------------------------------------------------------------------------

  @Test
  void createVolumeMakesANamedVolumeOnThisNodeWithTheDefaultSize() {
    Volume v = controller.createVolume(CreateVolumeRequest.newBuilder().setName("pvc-1")
        .addVolumeCapabilities(mount("xfs", Mode.SINGLE_NODE_WRITER))
        .putAllParameters(LVM)
        .putParameters("csi.storage.k8s.io/pvc/name", "data")
        .putParameters("csi.storage.k8s.io/pvc/namespace", "db").build()).getVolume();
    assertEquals("local-lvm:vm-0-pvc-1", v.getVolumeId());
    assertEquals(GIB, v.getCapacityBytes());
    assertEquals(Map.of("storage", "local-lvm", "format", "raw", "fsType", "xfs"),
        v.getVolumeContextMap());
    assertEquals(List.of(Topology.newBuilder()
        .putSegments(ControllerService.TOPOLOGY_KEY, "node-a").build()),
        v.getAccessibleTopologyList());
    assertEquals(List.of("alloc vm-0-pvc-1 " + GIB), lvm.calls());
  }

  /**
   * Issue 18: luks2 goes into the volume context (never a key: the controller needs none); an
   * encryption the volume cannot have is refused naming it and the volume, before anything.
   */
  @Test
  void encryptionIsRecordedInTheContextAndAnImpossibleOneIsRefused() {
    Volume v = controller.createVolume(create("pvc-enc", GIB, LVM)
        .putParameters("encryption", "luks2").build()).getVolume();
    assertEquals("luks2", v.getVolumeContextMap().get("encryption"));
    Volume plain = controller.createVolume(create("pvc-plain", GIB, LVM)
        .putParameters("encryption", "none").build()).getVolume();
    assertFalse(plain.getVolumeContextMap().containsKey("encryption"));
    List<String> lvmCalls = lvm.calls();
    StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(
        create("pvc-ds", GIB, ZFS).clearVolumeCapabilities()
            .addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER))
            .putParameters("encryption", "luks2").build()));
    assertTrue(e.getMessage().contains("encryption=luks2 (volume pvc-ds) needs a raw volume"),
        e.getMessage());
    e = fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(
        create("pvc-zn", GIB, ZFS).putParameters("encryption", "zfs-native").build()));
    assertTrue(e.getMessage().contains("encryption=zfs-native (volume pvc-zn) is not supported"),
        e.getMessage());
    assertEquals(lvmCalls, lvm.calls());
    assertEquals(List.of(), zfs.calls(), "nothing made on the zpool");
  }

  @Test
  void sizesAreRoundedUpAndTheRangeIsHonoured() {
    Volume v = controller.createVolume(create("pvc-r", 5_000_000, LVM)
        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(5_000_000)
            .setLimitBytes(10_000_000)).build()).getVolume();
    assertEquals(2 * MemoryStoragePlugin.UNIT, v.getCapacityBytes());
    Volume foreseen = controller.createVolume(create("pvc-rz", 5_000_000, ZFS).build())
        .getVolume();
    assertEquals(2 * MemoryStoragePlugin.UNIT, foreseen.getCapacityBytes(),
        "the size the plugin foresees, not read back");

    StatusRuntimeException e = fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(
        create("pvc-tight", 5_000_000, LVM).setCapacityRange(CapacityRange.newBuilder()
            .setRequiredBytes(5_000_000).setLimitBytes(6_000_000)).build()));
    assertTrue(e.getMessage().contains("above the limit"), e.getMessage());
    assertFalse(lvm.has("vm-0-pvc-tight"), "a volume outside the range is removed again");
  }

  @Test
  void xfsVolumesAreAtLeastWhatMkfsXfsAccepts() {
    Volume small = controller.createVolume(create("pvc-xfs", 64L << 20, LVM)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("xfs", Mode.SINGLE_NODE_WRITER))
        .build()).getVolume();
    assertEquals(ControllerService.MIN_XFS_BYTES, small.getCapacityBytes());
    assertEquals(small, controller.createVolume(create("pvc-xfs", 64L << 20, LVM)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("xfs", Mode.SINGLE_NODE_WRITER))
        .build()).getVolume(), "the retry gets the same volume");
    StatusRuntimeException e = fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(
        create("pvc-xfs-2", 64L << 20, LVM).setCapacityRange(CapacityRange.newBuilder()
            .setRequiredBytes(64L << 20).setLimitBytes(100L << 20))
            .clearVolumeCapabilities().addVolumeCapabilities(mount("xfs", Mode.SINGLE_NODE_WRITER))
            .build()));
    assertTrue(e.getMessage().contains("use ext4"), e.getMessage());
  }

  @Test
  void aRepeatedCreateReturnsTheSameVolumeAndCreatesNothing() {
    Volume first = controller.createVolume(create("pvc-2", 3 * GIB, LVM).build()).getVolume();
    Volume again = controller.createVolume(create("pvc-2", 3 * GIB, LVM).build()).getVolume();
    assertEquals(first, again);
    assertEquals(1, lvm.listImages(java.util.OptionalLong.empty(), Optional.empty()).size());
    // A second volume for the same CSI name under another volume name is refused too.
    Volume viaOwner = controller.createVolume(create("pvc-2", 3 * GIB, Map.of(
        "storage", "local-lvm", "owner", "7")).build()).getVolume();
    assertEquals(first, viaOwner);
    assertFalse(lvm.has("vm-7-pvc-2"));
  }

  @Test
  void theSameNameWithAnIncompatibleRequestIsAlreadyExists() {
    controller.createVolume(create("pvc-3", GIB, ZFS).build());
    fails(Status.Code.ALREADY_EXISTS,
        () -> controller.createVolume(create("pvc-3", 2 * GIB, ZFS).build()));
    fails(Status.Code.ALREADY_EXISTS, () -> controller.createVolume(create("pvc-3", GIB, ZFS)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER))
        .build()));
    fails(Status.Code.ALREADY_EXISTS, () -> controller.createVolume(create("pvc-3", GIB, ZFS)
        .setCapacityRange(CapacityRange.newBuilder().setLimitBytes(GIB / 2)).build()));
  }

  @Test
  void aForeignVolumeHoldingTheDerivedNameIsAlreadyExists() {
    lvm.put("vm-0-pvc-4", ImageFormat.RAW, GIB, Optional.empty());
    StatusRuntimeException e = fails(Status.Code.ALREADY_EXISTS,
        () -> controller.createVolume(create("pvc-4", GIB, LVM).build()));
    assertTrue(e.getMessage().contains("taken by a volume"), e.getMessage());
  }

  @Test
  void badCreateRequestsAreRefusedBeforeAnythingRuns() {
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("", 0, LVM).build()));
    fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("x".repeat(129), 0, LVM).build()));
    fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("a\u0007b", 0, LVM).build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(
        create("v", 0, LVM).clearVolumeCapabilities().build()));
    StatusRuntimeException multi = fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("v", 0, LVM).clearVolumeCapabilities()
            .addVolumeCapabilities(mount("", Mode.MULTI_NODE_MULTI_WRITER)).build()));
    assertTrue(multi.getMessage().contains("MULTI_NODE_MULTI_WRITER"), multi.getMessage());
    StatusRuntimeException unknown = fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("v", 0, Map.of("storage", "local-lvm",
            "thinpool", "other")).build()));
    assertTrue(unknown.getMessage().contains("'thinpool'"), unknown.getMessage());
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("v", 0, Map.of())
        .build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("v", 0, LVM)
        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(-1)).build()));
    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(create("v", 0, LVM)
        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(2 * GIB)
            .setLimitBytes(GIB)).build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("v", 0, LVM)
        .addMutableParameters(CreateVolumeRequest.MutableParametersEntry.newBuilder()
            .setKey("iops").setValue("100")).build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("v", 0, LVM)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER))
        .build()));
    StatusRuntimeException zfsOnly = fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("v", 0, Map.of("storage", "local-lvm",
            "volblocksize", "16k")).build()));
    assertTrue(zfsOnly.getMessage().contains("zfspool storages only"), zfsOnly.getMessage());
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("v", 0, LVM)
        .setVolumeContentSource(VolumeContentSource.getDefaultInstance()).build()));
    nothingDone();
  }

  @Test
  void aStorageOrTopologyThisNodeCannotServeIsResourceExhausted() {
    StatusRuntimeException missing = fails(Status.Code.RESOURCE_EXHAUSTED,
        () -> controller.createVolume(create("v", 0, Map.of("storage", "ceph")).build()));
    assertTrue(missing.getMessage().contains("local-lvm, local-zfs"), missing.getMessage());
    fails(Status.Code.RESOURCE_EXHAUSTED, () -> controller.createVolume(create("v", 0, LVM)
        .setAccessibilityRequirements(TopologyRequirement.newBuilder().addRequisite(
            Topology.newBuilder().putSegments(ControllerService.TOPOLOGY_KEY, "node-b")))
        .build()));
    nothingDone();
    controller.createVolume(create("v", 0, LVM).setAccessibilityRequirements(
        TopologyRequirement.newBuilder()
            .addRequisite(Topology.newBuilder().putSegments(ControllerService.TOPOLOGY_KEY,
                "node-b"))
            .addRequisite(Topology.newBuilder().putSegments(ControllerService.TOPOLOGY_KEY,
                "node-a"))).build());
    lvm.allocatable(GIB);
    fails(Status.Code.RESOURCE_EXHAUSTED,
        () -> controller.createVolume(create("big", 2 * GIB, LVM).build()));
  }

  @Test
  void aSecondConcurrentCallOnTheSameNameIsAborted() {
    try (InFlight.Claim claim = inFlight.enter("volume name", "pvc-busy")) {
      fails(Status.Code.ABORTED,
          () -> controller.createVolume(create("pvc-busy", 0, LVM).build()));
    }
    controller.createVolume(create("pvc-busy", 0, LVM).build());
    try (InFlight.Claim claim = inFlight.enter("snapshot name", "snap-busy")) {
      fails(Status.Code.ABORTED, () -> snapshot("snap-busy", "local-lvm:vm-0-pvc-busy"));
    }
    assertEquals(0, inFlight.size(), "claims are released");
  }

  @Test
  void zfsDatasetsAndBlockVolumes() {
    Volume dataset = controller.createVolume(create("pvc-ds", GIB, ZFS)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER))
        .putParameters("sparse", "true").build()).getVolume();
    assertEquals("local-zfs:subvol-0-pvc-ds", dataset.getVolumeId());
    assertEquals("subvol", dataset.getVolumeContextOrThrow("format"));
    Volume raw = controller.createVolume(create("pvc-blk", GIB, ZFS)
        .clearVolumeCapabilities().addVolumeCapabilities(block()).build()).getVolume();
    assertEquals("local-zfs:vm-0-pvc-blk", raw.getVolumeId());
    assertFalse(raw.getVolumeContextMap().containsKey("fsType"));
  }

  // ---- restores and clones -------------------------------------------------------------------

  @Test
  void restoreToTheSameAndToALargerSizeAndNotToASmallerOne() {
    controller.createVolume(create("src", 2 * GIB, LVM).build());
    Snapshot snap = snapshot("snap-1", "local-lvm:vm-0-src");
    assertEquals(2 * GIB, snap.getSizeBytes());

    Volume same = controller.createVolume(create("r-same", 0, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()).getVolume();
    assertEquals(2 * GIB, same.getCapacityBytes());
    assertEquals(fromSnapshot(snap.getSnapshotId()), same.getContentSource());

    Volume larger = controller.createVolume(create("r-large", 3 * GIB, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()).getVolume();
    assertEquals(3 * GIB, larger.getCapacityBytes());
    assertTrue(lvm.calls().contains("clone vm-0-src@snap-1 vm-0-r-large"), lvm.calls().toString());
    assertTrue(lvm.calls().contains("resize vm-0-r-large " + 3 * GIB), lvm.calls().toString());

    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(create("r-small", GIB, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()));
    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(create("r-small", 0, LVM)
        .setCapacityRange(CapacityRange.newBuilder().setLimitBytes(GIB))
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()));
    assertFalse(lvm.has("vm-0-r-small"));
  }

  @Test
  void anInterruptedRestoreIsFinishedByTheRetry() {
    controller.createVolume(create("src", GIB, LVM).build());
    Snapshot snap = snapshot("snap-2", "local-lvm:vm-0-src");
    // The clone exists with the CSI name, but the crash came before the grow.
    lvm.put("vm-0-r-crash", ImageFormat.RAW, GIB, Optional.of(VolumeMetadata.of("r-crash")));
    Volume v = controller.createVolume(create("r-crash", 2 * GIB, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()).getVolume();
    assertEquals(2 * GIB, v.getCapacityBytes());
    assertEquals(2 * GIB, lvm.sizeOf("vm-0-r-crash"));
    List<String> calls = lvm.calls();
    assertEquals(List.of("finish vm-0-r-crash", "resize vm-0-r-crash " + 2 * GIB),
        calls.subList(calls.size() - 2, calls.size()));
  }

  @Test
  void aCloneCutOffBeforeItsTemporarySnapshotWasRemovedIsFinishedByTheRetry() {
    controller.createVolume(create("src", GIB, LVM).build());
    // The crash came after the clone and before the temporary snapshot's removal.
    String temp = io.csi.pvestorage.storage.VolumeNames.cloneSnapshotFor("vm-0-c-crash");
    lvm.putSnapshot("vm-0-src", temp, Optional.empty());
    lvm.put("vm-0-c-crash", ImageFormat.RAW, GIB, Optional.of(VolumeMetadata.of("c-crash")));
    Volume v = controller.createVolume(create("c-crash", 2 * GIB, LVM)
        .setVolumeContentSource(fromVolume("local-lvm:vm-0-src")).build()).getVolume();
    assertEquals(2 * GIB, v.getCapacityBytes());
    assertFalse(lvm.hasSnapshot("vm-0-src", temp), "the retry removed the temporary snapshot");
    List<String> calls = lvm.calls();
    assertEquals(List.of("finish vm-0-c-crash", "delsnapshot vm-0-src@" + temp,
        "resize vm-0-c-crash " + 2 * GIB), calls.subList(calls.size() - 3, calls.size()));
  }

  @Test
  void restoreSourcesThatAreMissingOrElsewhere() {
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("r", 0, LVM)
        .setVolumeContentSource(fromSnapshot("local-lvm:vm-0-gone@s1")).build()));
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("r", 0, LVM)
        .setVolumeContentSource(fromSnapshot("not-a-snapshot-id")).build()));
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("r", 0, LVM)
        .setVolumeContentSource(fromVolume("local-lvm:vm-0-gone")).build()));
    controller.createVolume(create("z", GIB, ZFS).build());
    Snapshot zsnap = snapshot("zs", "local-zfs:vm-0-z");
    StatusRuntimeException other = fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("r", 0, LVM)
            .setVolumeContentSource(fromSnapshot(zsnap.getSnapshotId())).build()));
    assertTrue(other.getMessage().contains("storage: local-zfs"), other.getMessage());
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createVolume(create("r", 0, ZFS)
        .clearVolumeCapabilities().addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER))
        .setVolumeContentSource(fromSnapshot(zsnap.getSnapshotId())).build()));
    assertEquals(List.of("alloc vm-0-z " + GIB, "snapshot vm-0-z@zs"), zfs.calls());
  }

  @Test
  void aVolumeCloneUsesATemporarySnapshotThatIsRemovedAgain() {
    controller.createVolume(create("src", 2 * GIB, LVM).build());
    Volume clone = controller.createVolume(create("pvc-clone", 0, LVM)
        .setVolumeContentSource(fromVolume("local-lvm:vm-0-src")).build()).getVolume();
    assertEquals(2 * GIB, clone.getCapacityBytes());
    assertEquals(fromVolume("local-lvm:vm-0-src"), clone.getContentSource());
    List<String> calls = lvm.calls();
    assertEquals(4, calls.size(), calls.toString());
    assertTrue(calls.get(1).startsWith("snapshot vm-0-src@"), calls.toString());
    String temp = calls.get(1).substring(calls.get(1).indexOf('@') + 1);
    assertEquals("clone vm-0-src@" + temp + " vm-0-pvc-clone", calls.get(2));
    assertEquals("delsnapshot vm-0-src@" + temp, calls.get(3));
    assertFalse(lvm.hasSnapshot("vm-0-src", temp));
    assertEquals(0, controller.listSnapshots(ListSnapshotsRequest.getDefaultInstance())
        .getEntriesCount(), "the temporary snapshot is never a CSI snapshot");
  }

  @Test
  void aCloneThatFailsRemovesItsTemporarySnapshotInTheSameLockHold() {
    controller.createVolume(create("src", GIB, LVM).build());
    lvm.failNextClone(new io.csi.pvestorage.error.StorageException(
        io.csi.pvestorage.error.ErrorKind.EXHAUSTED, "thin pool full"));
    fails(Status.Code.RESOURCE_EXHAUSTED, () -> controller.createVolume(create("pvc-c", 0, LVM)
        .setVolumeContentSource(fromVolume("local-lvm:vm-0-src")).build()));
    List<String> calls = lvm.calls();
    String temp = calls.get(1).substring(calls.get(1).indexOf('@') + 1);
    assertEquals(List.of("alloc vm-0-src " + GIB, "snapshot vm-0-src@" + temp,
        "clone vm-0-src@" + temp + " vm-0-pvc-c", "delsnapshot vm-0-src@" + temp), calls,
        "every call asserted the lock held; the temporary snapshot is gone again");
    assertFalse(lvm.hasSnapshot("vm-0-src", temp));
    assertFalse(lvm.has("vm-0-pvc-c"));
  }

  // ---- ownership: what the driver did not make is never used (issue 13 point 3) ---------------

  @Test
  void aVolumeOrSnapshotWithoutACsiNameIsNeverSnapshottedClonedOrRestored() {
    lvm.put("vm-100-disk-0", ImageFormat.RAW, GIB, Optional.empty());
    lvm.putSnapshot("vm-100-disk-0", "vzdump", Optional.empty());
    StatusRuntimeException snapshot = fails(Status.Code.FAILED_PRECONDITION,
        () -> snapshot("snap-f", "local-lvm:vm-100-disk-0"));
    assertTrue(snapshot.getMessage().contains("local-lvm:vm-100-disk-0 was not created by this "
        + "driver") && snapshot.getMessage().contains("not snapshotted"), snapshot.getMessage());
    StatusRuntimeException clone = fails(Status.Code.FAILED_PRECONDITION,
        () -> controller.createVolume(create("pvc-f", 0, LVM)
            .setVolumeContentSource(fromVolume("local-lvm:vm-100-disk-0")).build()));
    assertTrue(clone.getMessage().contains("not cloned"), clone.getMessage());
    StatusRuntimeException restore = fails(Status.Code.FAILED_PRECONDITION,
        () -> controller.createVolume(create("pvc-f", 0, LVM)
            .setVolumeContentSource(fromSnapshot("local-lvm:vm-100-disk-0@vzdump")).build()));
    assertTrue(restore.getMessage().contains("local-lvm:vm-100-disk-0@vzdump was not taken by "
        + "this driver") && restore.getMessage().contains("not restored"), restore.getMessage());
    assertEquals(0, controller.listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId("local-lvm:vm-100-disk-0").build()).getEntriesCount());
    nothingDone();
    assertTrue(lvm.has("vm-100-disk-0") && lvm.hasSnapshot("vm-100-disk-0", "vzdump"));
  }

  // ---- a deleted volume's snapshots (issue 13 point 1) -----------------------------------------

  @Test
  void theSnapshotsOfADeletedVolumeStayListedAndRestorableButItTakesNoNewOnes() {
    controller.createVolume(create("src", GIB, LVM).build());
    Snapshot snap = snapshot("snap-k", "local-lvm:vm-0-src");
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId("local-lvm:vm-0-src")
        .build());
    assertFalse(lvm.has("vm-0-src"));
    assertEquals(List.of(snap), controller.listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(snap.getSnapshotId()).build()).getEntriesList().stream()
        .map(ListSnapshotsResponse.Entry::getSnapshot).toList(),
        "by ID, with the old source volume ID, size and time");
    assertEquals(List.of(snap.getSnapshotId()), walkSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId("local-lvm:vm-0-src"), 0));
    assertEquals(List.of(snap.getSnapshotId()), walkSnapshots(ListSnapshotsRequest.newBuilder(),
        0));

    Volume restored = controller.createVolume(create("r-k", 0, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()).getVolume();
    assertEquals(GIB, restored.getCapacityBytes());
    int before = lvm.calls().size();
    StatusRuntimeException e = fails(Status.Code.NOT_FOUND,
        () -> snapshot("snap-k2", "local-lvm:vm-0-src"));
    assertTrue(e.getMessage().contains("local-lvm:vm-0-src does not exist"), e.getMessage());
    fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("c-k", 0, LVM)
        .setVolumeContentSource(fromVolume("local-lvm:vm-0-src")).build()));
    assertEquals(before, lvm.calls().size(), "nothing ran for them");

    Volume again = controller.createVolume(create("src", GIB, LVM).build()).getVolume();
    assertEquals("local-lvm:vm-0-src", again.getVolumeId(), "the name is free: a new volume");
    controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder()
        .setSnapshotId(snap.getSnapshotId()).build());
    assertFalse(lvm.hasSnapshot("vm-0-src", snap.getSnapshotId()
        .substring(snap.getSnapshotId().indexOf('@') + 1)));
  }

  // ---- limit_bytes and interrupted creates (issue 13 point 8) ----------------------------------

  @Test
  void aSizeThatRoundsAboveTheLimitIsRefusedBeforeAnythingIsCreated() {
    StatusRuntimeException e = fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(
        create("pvc-z", 5_000_000, ZFS).setCapacityRange(CapacityRange.newBuilder()
            .setRequiredBytes(5_000_000).setLimitBytes(6_000_000)).build()));
    assertTrue(e.getMessage().contains("rounds this volume up to " + 2 * MemoryStoragePlugin.UNIT),
        e.getMessage());
    assertEquals(List.of(), zfs.calls(), "the plugin foresees its rounding: nothing created");

    controller.createVolume(create("zsrc", MemoryStoragePlugin.UNIT, ZFS).build());
    Snapshot snap = snapshot("zs", "local-zfs:vm-0-zsrc");
    List<String> made = zfs.calls();
    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(
        create("pvc-zr", MemoryStoragePlugin.UNIT + 1, ZFS).setCapacityRange(CapacityRange
            .newBuilder().setRequiredBytes(MemoryStoragePlugin.UNIT + 1)
            .setLimitBytes(MemoryStoragePlugin.UNIT + 2))
            .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()));
    assertEquals(made, zfs.calls(), "the grow's rounding is checked before the clone is made");
  }

  @Test
  void aLeftoverAboveTheLimitIsRemovedAndAnsweredOutOfRange() {
    // what a create of this request that was cut off before removing its result leaves
    zfs.put("vm-0-pvc-left", ImageFormat.RAW, 2 * MemoryStoragePlugin.UNIT,
        Optional.of(VolumeMetadata.of("pvc-left")));
    CreateVolumeRequest request = create("pvc-left", 5_000_000, ZFS).setCapacityRange(
        CapacityRange.newBuilder().setRequiredBytes(5_000_000).setLimitBytes(6_000_000)).build();
    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(request));
    assertFalse(zfs.has("vm-0-pvc-left"));
    assertEquals(List.of("free vm-0-pvc-left"), zfs.calls());
    fails(Status.Code.OUT_OF_RANGE, () -> controller.createVolume(request));
    assertEquals(List.of("free vm-0-pvc-left"), zfs.calls(), "and from then on nothing is made");

    // a volume of another size under the same name is not this request's: it stays
    zfs.put("vm-0-pvc-other", ImageFormat.RAW, GIB, Optional.of(VolumeMetadata.of("pvc-other")));
    fails(Status.Code.ALREADY_EXISTS, () -> controller.createVolume(create("pvc-other", 0, ZFS)
        .setCapacityRange(CapacityRange.newBuilder().setLimitBytes(GIB / 2)).build()));
    assertTrue(zfs.has("vm-0-pvc-other"));
  }

  @Test
  void anAdoptedVolumeIsFinishedUnderTheLock() {
    controller.createVolume(create("pvc-f", GIB, LVM).build());
    controller.createVolume(create("pvc-f", GIB, LVM).build());
    assertEquals(List.of("alloc vm-0-pvc-f " + GIB, "alloc vm-0-pvc-f " + GIB,
        "finish vm-0-pvc-f"), lvm.calls(), "the retry's alloc finds the name taken, then the "
        + "volume is adopted and finished");
  }

  // ---- DeleteVolume --------------------------------------------------------------------------

  @Test
  void deleteVolumeIsIdempotentAndNeverTouchesForeignVolumes() {
    controller.createVolume(create("pvc-d", GIB, LVM).build());
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId("local-lvm:vm-0-pvc-d")
        .build());
    assertFalse(lvm.has("vm-0-pvc-d"));
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId("local-lvm:vm-0-pvc-d")
        .build());
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId("garbage").build());
    controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId("other:vm-1-x").build());
    fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.deleteVolume(DeleteVolumeRequest.getDefaultInstance()));

    lvm.put("vm-100-disk-0", ImageFormat.RAW, GIB, Optional.empty());
    StatusRuntimeException e = fails(Status.Code.FAILED_PRECONDITION,
        () -> controller.deleteVolume(DeleteVolumeRequest.newBuilder()
            .setVolumeId("local-lvm:vm-100-disk-0").build()));
    assertTrue(e.getMessage().contains("not created by this driver"), e.getMessage());
    assertTrue(lvm.has("vm-100-disk-0"));
    assertEquals(List.of("alloc vm-0-pvc-d " + GIB, "free vm-0-pvc-d"), lvm.calls());
  }

  // ---- snapshots -----------------------------------------------------------------------------

  @Test
  void createSnapshotIsIdempotentAndReportsTheSourceSize() {
    controller.createVolume(create("src", 3 * GIB, LVM).build());
    Snapshot first = snapshot("snapshot-0b5f2a43-5d45-4a1e-9c57-e7e5d5e2c001",
        "local-lvm:vm-0-src");
    assertEquals(3 * GIB, first.getSizeBytes());
    assertTrue(first.getReadyToUse());
    assertTrue(first.getCreationTime().getSeconds() > 0);
    assertEquals("local-lvm:vm-0-src", first.getSourceVolumeId());
    assertTrue(first.getSnapshotId().length() <= 128);
    assertEquals(first, snapshot("snapshot-0b5f2a43-5d45-4a1e-9c57-e7e5d5e2c001",
        "local-lvm:vm-0-src"));
    assertEquals(2, lvm.calls().size(), lvm.calls().toString());

    controller.createVolume(create("other", GIB, LVM).build());
    fails(Status.Code.ALREADY_EXISTS,
        () -> snapshot("snapshot-0b5f2a43-5d45-4a1e-9c57-e7e5d5e2c001", "local-lvm:vm-0-other"));
  }

  @Test
  void badSnapshotRequests() {
    fails(Status.Code.INVALID_ARGUMENT, () -> snapshot("", "local-lvm:vm-0-x"));
    fails(Status.Code.INVALID_ARGUMENT, () -> snapshot("s", ""));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.createSnapshot(
        CreateSnapshotRequest.newBuilder().setName("s").setSourceVolumeId("local-lvm:vm-0-x")
            .putParameters("compression", "on").build()));
    fails(Status.Code.NOT_FOUND, () -> snapshot("s", "local-lvm:vm-0-missing"));
    fails(Status.Code.NOT_FOUND, () -> snapshot("s", "nonsense"));
    fails(Status.Code.NOT_FOUND, () -> snapshot("s", "ceph:vm-0-x"));
    fails(Status.Code.NOT_FOUND, () -> snapshot("s", "local-lvm:not_a_volume"));
    fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.deleteSnapshot(DeleteSnapshotRequest.getDefaultInstance()));
    assertEquals(List.of(), lvm.calls(), "a missing source is found missing before anything "
        + "runs under the lock");
  }

  @Test
  void deleteSnapshotIsIdempotentAndLeavesForeignSnapshots() {
    controller.createVolume(create("src", GIB, LVM).build());
    Snapshot s = snapshot("snap-d", "local-lvm:vm-0-src");
    DeleteSnapshotRequest delete = DeleteSnapshotRequest.newBuilder()
        .setSnapshotId(s.getSnapshotId()).build();
    controller.deleteSnapshot(delete);
    controller.deleteSnapshot(delete);
    controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId("junk").build());
    assertFalse(lvm.hasSnapshot("vm-0-src", "snap-d"));

    lvm.putSnapshot("vm-0-src", "vzdump", Optional.empty());
    fails(Status.Code.FAILED_PRECONDITION, () -> controller.deleteSnapshot(
        DeleteSnapshotRequest.newBuilder().setSnapshotId("local-lvm:vm-0-src@vzdump").build()));
    assertTrue(lvm.hasSnapshot("vm-0-src", "vzdump"));
  }

  @Test
  void listSnapshotsByIdBySourceAndInPages() {
    controller.createVolume(create("a", GIB, LVM).build());
    controller.createVolume(create("b", GIB, ZFS).build());
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(snapshot("sa" + i, "local-lvm:vm-0-a").getSnapshotId());
    }
    ids.add(snapshot("sb", "local-zfs:vm-0-b").getSnapshotId());
    lvm.putSnapshot("vm-0-a", "foreign", Optional.empty());

    assertEquals(ids, walkSnapshots(ListSnapshotsRequest.newBuilder(), 4));
    assertEquals(ids, walkSnapshots(ListSnapshotsRequest.newBuilder(), 1));
    assertEquals(ids.subList(0, 5), walkSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId("local-lvm:vm-0-a"), 2));
    assertEquals(List.of(ids.get(5)), walkSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(ids.get(5)), 0));
    assertEquals(List.of(), walkSnapshots(ListSnapshotsRequest
        .newBuilder().setSnapshotId("local-lvm:vm-0-a@foreign"), 0),
        "a snapshot the driver did not take is not listed, not even by its ID");
    for (String unknown : List.of("local-lvm:vm-0-a@nope", "local-lvm:vm-0-gone@s", "junk",
        "ceph:vm-0-a@s")) {
      assertEquals(List.of(), walkSnapshots(ListSnapshotsRequest.newBuilder()
          .setSnapshotId(unknown), 0), unknown);
    }
    assertEquals(List.of(), walkSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId("local-lvm:vm-0-gone"), 0));
    fails(Status.Code.ABORTED, () -> controller.listSnapshots(ListSnapshotsRequest.newBuilder()
        .setStartingToken("not-a-token").build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.listSnapshots(
        ListSnapshotsRequest.newBuilder().setMaxEntries(-1).build()));
  }

  private List<String> walkSnapshots(ListSnapshotsRequest.Builder request, int pageSize) {
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      ListSnapshotsResponse page = controller.listSnapshots(request.setMaxEntries(pageSize)
          .setStartingToken(token).build());
      assertTrue(pageSize == 0 || page.getEntriesCount() <= pageSize);
      page.getEntriesList().forEach(e -> {
        assertTrue(e.getSnapshot().getSizeBytes() > 0);
        seen.add(e.getSnapshot().getSnapshotId());
      });
      token = page.getNextToken();
    } while (!token.isEmpty());
    return seen;
  }

  // ---- ListVolumes, GetCapacity, ValidateVolumeCapabilities, capabilities ----------------------

  @Test
  void listVolumesPagesOverOurVolumesOnly() {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      ids.add(controller.createVolume(create("pvc-l" + i, GIB, i % 2 == 0 ? LVM : ZFS).build())
          .getVolume().getVolumeId());
    }
    lvm.put("vm-100-disk-0", ImageFormat.RAW, GIB, Optional.empty());
    ids.sort(null);
    List<String> seen = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListVolumesResponse page = controller.listVolumes(ListVolumesRequest.newBuilder()
          .setMaxEntries(2).setStartingToken(token).build());
      pages++;
      for (ListVolumesResponse.Entry e : page.getEntriesList()) {
        seen.add(e.getVolume().getVolumeId());
        assertTrue(e.getStatus().hasVolumeCondition());
        assertFalse(e.getStatus().getVolumeCondition().getAbnormal());
      }
      token = page.getNextToken();
      // A volume deleted between two pages does not shift the next page.
      if (pages == 1) {
        controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(seen.get(0))
            .build());
      }
    } while (!token.isEmpty());
    assertEquals(ids, seen);
    assertEquals(3, pages);
    fails(Status.Code.ABORTED, () -> controller.listVolumes(ListVolumesRequest.newBuilder()
        .setStartingToken("zzz").build()));
  }

  @Test
  void getCapacityIsPerStorageAndTopology() {
    lvm.allocatable(7 * GIB);
    zfs.allocatable(5 * GIB);
    GetCapacityResponse one = controller.getCapacity(GetCapacityRequest.newBuilder()
        .putAllParameters(LVM).addVolumeCapabilities(mount()).build());
    assertEquals(7 * GIB, one.getAvailableCapacity());
    assertEquals(7 * GIB, one.getMaximumVolumeSize().getValue());
    GetCapacityResponse all = controller.getCapacity(GetCapacityRequest.getDefaultInstance());
    assertEquals(12 * GIB, all.getAvailableCapacity());
    assertEquals(7 * GIB, all.getMaximumVolumeSize().getValue());
    assertEquals(0, controller.getCapacity(GetCapacityRequest.newBuilder().putAllParameters(LVM)
        .setAccessibleTopology(Topology.newBuilder()
            .putSegments(ControllerService.TOPOLOGY_KEY, "node-b")).build())
        .getAvailableCapacity());
    assertEquals(7 * GIB, controller.getCapacity(GetCapacityRequest.newBuilder()
        .putAllParameters(LVM).setAccessibleTopology(Topology.newBuilder()
            .putSegments(ControllerService.TOPOLOGY_KEY, "node-a")).build())
        .getAvailableCapacity());
    assertEquals(0, controller.getCapacity(GetCapacityRequest.newBuilder()
        .putParameters("storage", "ceph").build()).getAvailableCapacity());
    assertEquals(0, controller.getCapacity(GetCapacityRequest.newBuilder().putAllParameters(LVM)
        .addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER)).build())
        .getAvailableCapacity());
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.getCapacity(GetCapacityRequest
        .newBuilder().putParameters("storage", "local-lvm").putParameters("bogus", "1")
        .build()));
  }

  @Test
  void validateVolumeCapabilitiesConfirmsWhatTheVolumeCanDo() {
    String raw = controller.createVolume(create("pvc-v", GIB, ZFS).build()).getVolume()
        .getVolumeId();
    String dataset = controller.createVolume(create("pvc-vd", GIB, ZFS).clearVolumeCapabilities()
        .addVolumeCapabilities(mount("zfs", Mode.SINGLE_NODE_WRITER)).build()).getVolume()
        .getVolumeId();
    ValidateVolumeCapabilitiesResponse ok = controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(raw)
            .addVolumeCapabilities(block()).addVolumeCapabilities(mount()).build());
    assertTrue(ok.hasConfirmed());
    assertEquals(List.of(block(), mount()), ok.getConfirmed().getVolumeCapabilitiesList());

    for (VolumeCapability wrong : List.of(block(), mount("ext4", Mode.SINGLE_NODE_WRITER))) {
      ValidateVolumeCapabilitiesResponse no = controller.validateVolumeCapabilities(
          ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(dataset)
              .putVolumeContext("fsType", "zfs").addVolumeCapabilities(wrong).build());
      assertFalse(no.hasConfirmed(), wrong.toString());
      assertFalse(no.getMessage().isEmpty());
    }
    ValidateVolumeCapabilitiesResponse multi = controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(raw)
            .addVolumeCapabilities(mount("", Mode.MULTI_NODE_READER_ONLY)).build());
    assertFalse(multi.hasConfirmed());

    fails(Status.Code.NOT_FOUND, () -> controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId("local-zfs:vm-0-none")
            .addVolumeCapabilities(mount()).build()));
    fails(Status.Code.NOT_FOUND, () -> controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId("junk")
            .addVolumeCapabilities(mount()).build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(raw).build()));
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().addVolumeCapabilities(mount()).build()));
  }

  @Test
  void capabilitiesLeaveExpansionToTheNode() {
    List<ControllerServiceCapability.RPC.Type> types = controller.controllerGetCapabilities(
        ControllerGetCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList().stream()
        .map(c -> c.getRpc().getType()).toList();
    assertEquals(ControllerService.CAPABILITIES, types);
    assertFalse(types.contains(ControllerServiceCapability.RPC.Type.EXPAND_VOLUME));
    assertNotEquals(0, types.size());
  }

  // ---- names and IDs as the spec allows them (issue 13 point 4) ------------------------------

  @Test
  void namesWithTabsNewlinesAndReturnsAreLegalIdempotentAndListed() {
    String name = "claim\twith\ttabs\nand a newline\r";
    Volume made = controller.createVolume(create(name, GIB, LVM).build()).getVolume();
    assertTrue(made.getVolumeId().startsWith("local-lvm:vm-0-claim-with-tabs-and-a-newline-"),
        made.getVolumeId());
    assertEquals(made, controller.createVolume(create(name, GIB, LVM).build()).getVolume(),
        "the retry finds the volume by its CSI name");
    assertEquals(List.of(made.getVolumeId()), controller.listVolumes(
        ListVolumesRequest.getDefaultInstance()).getEntriesList().stream()
        .map(e -> e.getVolume().getVolumeId()).toList());

    String snapName = "snap\tshot\n1";
    Snapshot snap = snapshot(snapName, made.getVolumeId());
    assertEquals(snap, snapshot(snapName, made.getVolumeId()));
    assertEquals(List.of(snap.getSnapshotId()), walkSnapshots(ListSnapshotsRequest.newBuilder(),
        0));
    Volume restored = controller.createVolume(create("restore\nof it", GIB, LVM)
        .setVolumeContentSource(fromSnapshot(snap.getSnapshotId())).build()).getVolume();
    assertNotEquals(made.getVolumeId(), restored.getVolumeId());
    assertEquals(2, lvm.listImages(java.util.OptionalLong.empty(), Optional.empty()).size(),
        "one volume for the name, one restore; the retry made nothing");
    assertEquals(1, lvm.listSnapshots(Optional.empty()).size());
  }

  @Test
  void theControlCharactersTheSpecBansAreInvalidAndTheOthersAreNot() {
    for (char banned : new char[] {0x00, 0x01, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f, 0x85,
        0x9f}) {
      String name = "pvc" + banned + "x";
      StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT,
          () -> controller.createVolume(create(name, GIB, LVM).build()));
      assertTrue(e.getStatus().getDescription().contains(
          String.format("U+%04X at position 3", (int) banned)), e.getStatus().getDescription());
      fails(Status.Code.INVALID_ARGUMENT, () -> snapshot(name, "local-lvm:vm-0-x"));
    }
    nothingDone();
    for (char allowed : new char[] {0x09, 0x0a, 0x0d, 0x20, 0xa0, 0x2028}) {
      controller.createVolume(create("pvc" + allowed + "x", GIB, LVM).build());
    }
    assertEquals(6, lvm.calls().size(), lvm.calls().toString());
  }

  /** Strings no volume or snapshot ID of this driver can be. */
  private static final List<String> NEVER_ISSUED = List.of(
      "x".repeat(1 << 20), "local-lvm:" + "v".repeat(200), "local-lvm:vm-0-a\nb",
      "local-lvm:vm-0-a\tb", "local-lvm:../../etc/passwd", "local-lvm:vm-0-a b", ":vm-0-a",
      "local-lvm:", "local-lvm:vm-0-ä", "local-lvm:vm-0-a@", "local-lvm:vm-0-a@@b",
      "local-lvm:vm-0-a@UPPER", "@snap", "\u0000", "local-lvm\u0000:vm-0-a", "9lives:vm-0-a",
      "local-lvm:vm-0-a@s\u0085");

  @Test
  void idsThisDriverNeverIssuedAreObjectsThatDoNotExist() {
    controller.createVolume(create("a", GIB, LVM).build());
    snapshot("snap1", "local-lvm:vm-0-a");
    List<String> before = lvm.calls();
    for (String id : NEVER_ISSUED) {
      String shown = id.length() > 40 ? id.substring(0, 40) + "..." : id;
      controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
      controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(id).build());
      fails(Status.Code.NOT_FOUND, () -> controller.validateVolumeCapabilities(
          ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(id)
              .addVolumeCapabilities(mount()).build()));
      fails(Status.Code.NOT_FOUND, () -> snapshot("s2", id));
      fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("r", GIB, LVM)
          .setVolumeContentSource(fromSnapshot(id)).build()));
      fails(Status.Code.NOT_FOUND, () -> controller.createVolume(create("r", GIB, LVM)
          .setVolumeContentSource(fromVolume(id)).build()));
      assertEquals(List.of(), walkSnapshots(ListSnapshotsRequest.newBuilder().setSnapshotId(id),
          0), shown);
      assertEquals(List.of(), walkSnapshots(ListSnapshotsRequest.newBuilder()
          .setSourceVolumeId(id), 0), shown);
    }
    assertEquals(before, lvm.calls(), "nothing was changed");
    assertTrue(lvm.has("vm-0-a"));
    assertTrue(lvm.hasSnapshot("vm-0-a", "snap1"));
  }

  @Test
  void aHugeMaxEntriesAfterATokenIsTheRestOfTheListing() {
    for (int i = 0; i < 3; i++) {
      controller.createVolume(create("pvc-" + i, GIB, LVM).build());
      snapshot("s" + i, "local-lvm:vm-0-pvc-0");
    }
    ListVolumesResponse first = controller.listVolumes(ListVolumesRequest.newBuilder()
        .setMaxEntries(1).build());
    ListSnapshotsResponse firstSnap = controller.listSnapshots(ListSnapshotsRequest.newBuilder()
        .setMaxEntries(1).build());
    for (int huge : new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE - 1}) {
      ListVolumesResponse rest = controller.listVolumes(ListVolumesRequest.newBuilder()
          .setMaxEntries(huge).setStartingToken(first.getNextToken()).build());
      assertEquals(List.of("local-lvm:vm-0-pvc-1", "local-lvm:vm-0-pvc-2"),
          rest.getEntriesList().stream().map(e -> e.getVolume().getVolumeId()).toList());
      assertEquals("", rest.getNextToken());
      ListSnapshotsResponse restSnap = controller.listSnapshots(ListSnapshotsRequest
          .newBuilder().setMaxEntries(huge).setStartingToken(firstSnap.getNextToken()).build());
      assertEquals(2, restSnap.getEntriesCount());
      assertEquals("", restSnap.getNextToken());
    }
    fails(Status.Code.INVALID_ARGUMENT, () -> controller.listVolumes(ListVolumesRequest
        .newBuilder().setMaxEntries(Integer.MIN_VALUE).build()));
  }

  // ---- owners PVE may take for a guest (issue 13 point 9) ---------------------------------------

  @Test
  void anOwnerThatMayBeAGuestIdIsRefusedBeforeAnythingRuns() {
    for (String owner : List.of("100", "101", "9000", "999999999")) {
      StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT, () -> controller
          .createVolume(create("pvc-g", GIB, Map.of("storage", "local-lvm", "owner", owner))
              .build()));
      assertTrue(e.getStatus().getDescription().startsWith("StorageClass parameter owner="
          + owner + " is a possible Proxmox VE guest ID (100 and above): PVE counts volume vm-"
          + owner + "-... as a disk of guest " + owner + ", and removing that guest with "
          + "'destroy unreferenced disks' deletes the volume"), e.getStatus().getDescription());
      assertTrue(e.getStatus().getDescription().contains("--allow-guest-owners"));
    }
    nothingDone();
    assertEquals("local-lvm:vm-99-pvc-g", controller.createVolume(create("pvc-g", GIB,
        Map.of("storage", "local-lvm", "owner", "99")).build()).getVolume().getVolumeId());
  }

  @Test
  void aStorageWhoseDefaultOwnerMayBeAGuestIdServesNoNewVolume() {
    lvm.defaultOwner(100);
    StatusRuntimeException e = fails(Status.Code.INVALID_ARGUMENT,
        () -> controller.createVolume(create("pvc-g", GIB, LVM).build()));
    assertTrue(e.getStatus().getDescription().startsWith("the csi-owner 100 of storage "
        + "local-lvm is a possible Proxmox VE guest ID"), e.getStatus().getDescription());
    nothingDone();
  }

  @Test
  void guestOwnersServeWhenTheOperatorAllowsThem() throws Exception {
    lvm.defaultOwner(100);
    Clock clock = Clock.systemUTC();
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm, zfs), lock,
        Duration.ofSeconds(5), clock);
    try (InProcessCsi allowing = new InProcessCsi((method, code, took) -> { },
        List.of(new ControllerService(storages, new InFlight(), new OwnerPolicy(true))))) {
      ControllerGrpc.ControllerBlockingStub allowed = ControllerGrpc.newBlockingStub(
          allowing.channel());
      assertEquals("local-lvm:vm-100-pvc-a", allowed.createVolume(create("pvc-a", GIB, LVM)
          .build()).getVolume().getVolumeId());
      assertEquals("local-lvm:vm-4242-pvc-b", allowed.createVolume(create("pvc-b", GIB,
          Map.of("storage", "local-lvm", "owner", "4242")).build()).getVolume().getVolumeId());
    }
  }
}
