package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListVolumesRequest;
import csi.v1.Topology;
import csi.v1.TopologyRequirement;
import csi.v1.ValidateVolumeCapabilitiesRequest;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad Controller requests against the real LVM-thin and ZFS plugins over a fake command runner
 * with nothing scripted: each answers its pinned status code and not one lvm or zfs command
 * runs (the fake fails on any). Requests about volumes the driver did not make get only the
 * listings they need scripted, so anything else that ran would fail the test.
 */
class ControllerFakeRunnerTest {

  private static final CommonOptions COMMON = new CommonOptions(Set.of(), false,
      Set.of("images", "rootdir"), 0, CapacityPolicy.DEFAULT);

  private static VolumeCapability mount(String fs, Mode mode) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
        .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(mode)).build();
  }

  private static CreateVolumeRequest.Builder create(String storage) {
    return CreateVolumeRequest.newBuilder().setName("pvc-1")
        .addVolumeCapabilities(mount("", Mode.SINGLE_NODE_WRITER))
        .putParameters("storage", storage);
  }

  static Stream<Arguments> badRequests() {
    return Stream.of(
        Arguments.of("no name", Status.Code.INVALID_ARGUMENT, (Call) c -> c.createVolume(
            create("local-lvm").setName("").build())),
        Arguments.of("no capabilities", Status.Code.INVALID_ARGUMENT, (Call) c -> c.createVolume(
            create("local-lvm").clearVolumeCapabilities().build())),
        Arguments.of("multi-node writer", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-zfs").clearVolumeCapabilities()
                .addVolumeCapabilities(mount("", Mode.MULTI_NODE_MULTI_WRITER)).build())),
        Arguments.of("unknown parameter", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-lvm").putParameters("vgname", "x").build())),
        Arguments.of("bad volblocksize", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-zfs").putParameters("volblocksize", "3k")
                .build())),
        Arguments.of("volblocksize on lvm", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-lvm").putParameters("volblocksize", "16k")
                .build())),
        Arguments.of("fsType zfs on lvm", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-lvm").putParameters("fsType", "zfs")
                .build())),
        Arguments.of("btrfs", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createVolume(create("local-zfs").clearVolumeCapabilities()
                .addVolumeCapabilities(mount("btrfs", Mode.SINGLE_NODE_WRITER)).build())),
        Arguments.of("limit below required", Status.Code.OUT_OF_RANGE,
            (Call) c -> c.createVolume(create("local-lvm").setCapacityRange(CapacityRange
                .newBuilder().setRequiredBytes(10).setLimitBytes(5)).build())),
        Arguments.of("storage not here", Status.Code.RESOURCE_EXHAUSTED,
            (Call) c -> c.createVolume(create("local-ceph").build())),
        Arguments.of("other node", Status.Code.RESOURCE_EXHAUSTED,
            (Call) c -> c.createVolume(create("local-lvm").setAccessibilityRequirements(
                TopologyRequirement.newBuilder().addRequisite(Topology.newBuilder()
                    .putSegments(ControllerService.TOPOLOGY_KEY, "elsewhere"))).build())),
        Arguments.of("snapshot ID of another driver", Status.Code.NOT_FOUND,
            (Call) c -> c.createVolume(create("local-lvm").setVolumeContentSource(
                VolumeContentSource.newBuilder().setSnapshot(VolumeContentSource.SnapshotSource
                    .newBuilder().setSnapshotId("snap-1234"))).build())),
        Arguments.of("delete without ID", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.deleteVolume(DeleteVolumeRequest.getDefaultInstance())),
        Arguments.of("snapshot without name", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.createSnapshot(CreateSnapshotRequest.newBuilder()
                .setSourceVolumeId("local-lvm:vm-0-a").build())),
        Arguments.of("snapshot of a foreign ID", Status.Code.NOT_FOUND,
            (Call) c -> c.createSnapshot(CreateSnapshotRequest.newBuilder().setName("s1")
                .setSourceVolumeId("vol-1234").build())),
        Arguments.of("snapshot of a non-volume name", Status.Code.NOT_FOUND,
            (Call) c -> c.createSnapshot(CreateSnapshotRequest.newBuilder().setName("s1")
                .setSourceVolumeId("local-lvm:snap_vm-0-a_s1").build())),
        Arguments.of("delete snapshot without ID", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.deleteSnapshot(DeleteSnapshotRequest.getDefaultInstance())),
        Arguments.of("negative page size", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.listSnapshots(ListSnapshotsRequest.newBuilder().setMaxEntries(-2)
                .setSnapshotId("x").build())),
        Arguments.of("foreign page token", Status.Code.ABORTED,
            (Call) c -> c.listVolumes(ListVolumesRequest.newBuilder().setStartingToken("%%")
                .build())),
        Arguments.of("capacity parameter unknown", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.getCapacity(GetCapacityRequest.newBuilder()
                .putParameters("storage", "local-lvm").putParameters("pool", "x").build())),
        Arguments.of("validate without capabilities", Status.Code.INVALID_ARGUMENT,
            (Call) c -> c.validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest
                .newBuilder().setVolumeId("local-lvm:vm-0-a").build())),
        Arguments.of("validate a foreign ID", Status.Code.NOT_FOUND,
            (Call) c -> c.validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest
                .newBuilder().setVolumeId("pd-1234")
                .addVolumeCapabilities(mount("", Mode.SINGLE_NODE_WRITER)).build())));
  }

  /** One RPC made through the stub. */
  @FunctionalInterface
  interface Call {
    Object on(ControllerGrpc.ControllerBlockingStub controller);
  }

  @org.junit.jupiter.api.io.TempDir Path lockDir;
  private final FakeCommandRunner commands = new FakeCommandRunner();
  private LocalStorageLock lock;
  private InProcessCsi csi;
  private ControllerGrpc.ControllerBlockingStub controller;

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, java.util.concurrent
        .ThreadLocalRandom.current(), Sleeper.SYSTEM), clock, new LockObserver() {});
    LvmThinPlugin lvm = new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve", "data", COMMON),
        commands);
    ZfsPoolPlugin zfs = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", "rpool/data",
        OptionalLong.empty(), true, Optional.empty(), COMMON), commands);
    csi = new InProcessCsi((method, code, took) -> { }, List.of(new ControllerService(
        new NodeStorages("node-a", List.of(lvm, zfs), lock, Duration.ofSeconds(5), clock),
        new InFlight())));
    controller = ControllerGrpc.newBlockingStub(csi.channel());
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
    lock.close();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badRequests")
  void refusedBeforeAnyCommand(String what, Status.Code code, Call call) {
    Supplier<Object> rpc = () -> call.on(controller);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, rpc::get);
    assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    assertEquals(List.of(), commands.commands(), "no command may run for: " + what);
  }

  static Stream<Arguments> foreignSources() {
    VolumeContentSource guestDisk = VolumeContentSource.newBuilder().setVolume(
        VolumeContentSource.VolumeSource.newBuilder().setVolumeId("local-lvm:vm-100-disk-9"))
        .build();
    VolumeContentSource guestSnapshot = VolumeContentSource.newBuilder().setSnapshot(
        VolumeContentSource.SnapshotSource.newBuilder()
            .setSnapshotId("local-lvm:vm-100-disk-9@clone-of-backup")).build();
    return Stream.of(
        Arguments.of("snapshot of a guest disk", 1, (Call) c -> c.createSnapshot(
            CreateSnapshotRequest.newBuilder().setName("s1")
                .setSourceVolumeId("local-lvm:vm-100-disk-9").build())),
        Arguments.of("clone of a guest disk", 2, (Call) c -> c.createVolume(
            create("local-lvm").setVolumeContentSource(guestDisk).build())),
        Arguments.of("restore of a guest disk's snapshot", 2, (Call) c -> c.createVolume(
            create("local-lvm").setVolumeContentSource(guestSnapshot).build())),
        Arguments.of("delete of a guest disk", 1, (Call) c -> c.deleteVolume(
            DeleteVolumeRequest.newBuilder().setVolumeId("local-lvm:vm-100-disk-9").build())));
  }

  /**
   * A guest disk and its snapshot without a CSI name, in a pool recorded on lvm2 2.03.16
   * (fixture {@code plugin-lvs-keep-before}): every request that would use or change them is
   * FAILED_PRECONDITION after the listings it needs, and nothing but {@code lvs} runs.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("foreignSources")
  void whatTheDriverDidNotMakeIsRefusedAfterListingOnly(String what, int listings, Call call) {
    Fixture pool = Fixture.load("lvm", "2.03.16", "plugin-lvs-keep-before");
    for (int i = 0; i < listings; i++) {
      commands.expect(pool.argv()).thenSucceed(pool.stdoutText());
    }
    Supplier<Object> rpc = () -> call.on(controller);
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, rpc::get);
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(),
        e.getStatus().toString());
    assertTrue(e.getStatus().getDescription().contains("local-lvm:vm-100-disk-9"),
        e.getStatus().getDescription());
    assertEquals(listings, commands.commands().size(), what + ": " + commands.commands());
    commands.verifyAllConsumed();
  }

  /**
   * DeleteVolume of a driver volume (issue 16): the ownership check is answered from the
   * listing the delete works from, under the lock, so the RPC runs one {@code lvs} and PVE's
   * removes, and a deleted volume's retry runs the listing alone. Before, a lookup before the
   * lock listed the VG a second time.
   */
  @org.junit.jupiter.api.Test
  void deleteVolumeListsOnceAndRemovesAsPveDoes() {
    Fixture pool = Fixture.load("lvm", "2.03.16", "plugin-lvs-keep-before");
    commands.expect(pool.argv()).thenSucceed(pool.stdoutText());
    commands.expect("lvremove", "-f", "pve/snap_vm-410-pvc-keep_before").thenSucceed();
    commands.expect("lvremove", "-f", "pve/vm-410-pvc-keep").thenSucceed();
    commands.expect("lvremove", "-f", "pve/snap_vm-412-src_clone-of-vm-412-pvc-clone")
        .thenSucceed();
    controller.deleteVolume(DeleteVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-410-pvc-keep").build());
    Fixture gone = Fixture.load("lvm", "2.03.16", "plugin-lvs-keep-deleted");
    commands.expect(gone.argv()).thenSucceed(gone.stdoutText());
    controller.deleteVolume(DeleteVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-410-pvc-keep").build());
    commands.verifyAllConsumed();
  }
}
