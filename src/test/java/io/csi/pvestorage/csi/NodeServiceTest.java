package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CapacityRange;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGetInfoResponse;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodeGetVolumeStatsResponse;
import csi.v1.NodeGrpc;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodeServiceCapability;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import csi.v1.VolumeUsage;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.node.FileInfo;
import io.csi.pvestorage.node.FilesystemStats;
import io.csi.pvestorage.node.FindmntParser;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.storage.PoolStatus;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Node service through the real interceptor, in process: every validation and error path
 * with its status code, and the exact commands of the happy paths (scripted in a fake runner,
 * which fails the test on any other command).
 */
class NodeServiceTest {

  private static final String LVM_VOL = "local-lvm:vm-100-disk-0";
  private static final String DEV = "/dev/pve/vm-100-disk-0";
  private static final String ZFS_VOL = "local-zfs:subvol-100-disk-0";
  private static final String DATASET_DIR = "/rpool/data/subvol-100-disk-0";
  private static final String STAGING = "/var/lib/kubelet/plugins/kubernetes.io/csi/pve-storage.csi.io/abc/globalmount";
  private static final String TARGET = "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount";
  private static final String BLOCK_TARGET = "/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-1/p1";
  private static final String DIRECTORY = "directory|0|0";
  private static final String DEVICE = "block special file|fd|3";
  private static final String MISSING = "stat: cannot statx 'x': No such file or directory";

  @TempDir Path lockDir;

  private final FakeCommandRunner runner = new FakeCommandRunner();
  private final FakeNodePlugin lvm = new FakeNodePlugin("local-lvm", "lvmthin");
  private final FakeNodePlugin zfs = new FakeNodePlugin("local-zfs", "zfspool");
  private final InFlight inFlight = new InFlight();
  private final List<String> observed = new ArrayList<>();
  private LocalStorageLock lock;
  private InProcessCsi csi;
  private NodeGrpc.NodeBlockingStub node;

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, LockObserver.NONE);
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm, zfs), lock,
        Duration.ofSeconds(5), clock);
    Mounter mounter = new Mounter(runner, Duration.ofSeconds(30), Duration.ofMinutes(10));
    csi = new InProcessCsi((method, code, took) -> observed.add(method + " " + code),
        List.of(new NodeService(storages, inFlight, mounter, 250)));
    node = NodeGrpc.newBlockingStub(csi.channel());
    lvm.sizes.put("vm-100-disk-0", 1L << 30);
    zfs.sizes.put("subvol-100-disk-0", 2L << 30);
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
    lock.close();
  }

  // ---- info and capabilities ------------------------------------------------------------------

  @Test
  void infoNamesTheNodeTopologyAndLimit() {
    NodeGetInfoResponse info = node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance());
    assertEquals("node-a", info.getNodeId());
    assertEquals(250, info.getMaxVolumesPerNode());
    assertEquals(Map.of("pve-storage.csi.io/node", "node-a"),
        info.getAccessibleTopology().getSegmentsMap());
  }

  @Test
  void capabilitiesAreStageStatsExpandCondition() {
    List<NodeServiceCapability.RPC.Type> types = node.nodeGetCapabilities(
            NodeGetCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList().stream()
        .map(c -> c.getRpc().getType()).toList();
    assertEquals(List.of(NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME,
        NodeServiceCapability.RPC.Type.GET_VOLUME_STATS,
        NodeServiceCapability.RPC.Type.EXPAND_VOLUME,
        NodeServiceCapability.RPC.Type.VOLUME_CONDITION), types);
  }

  // ---- stage ----------------------------------------------------------------------------------

  @Test
  void stageRejectsBadRequestsBeforeAnyCommand() {
    NodeStageVolumeRequest good = stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_id is required",
        () -> node.nodeStageVolume(good.toBuilder().clearVolumeId().build()));
    rejected(Status.Code.INVALID_ARGUMENT, "not of the form",
        () -> node.nodeStageVolume(good.toBuilder().setVolumeId("no-colon").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path is required",
        () -> node.nodeStageVolume(good.toBuilder().clearStagingTargetPath().build()));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path 'rel/x' must be absolute",
        () -> node.nodeStageVolume(good.toBuilder().setStagingTargetPath("rel/x").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "'..' segments",
        () -> node.nodeStageVolume(good.toBuilder().setStagingTargetPath("/a/../etc").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_capability is required",
        () -> node.nodeStageVolume(good.toBuilder().clearVolumeCapability().build()));
    rejected(Status.Code.NOT_FOUND, "storage 'other' is not served on node node-a",
        () -> node.nodeStageVolume(good.toBuilder().setVolumeId("other:vm-1-disk-0").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "is not a volume name",
        () -> node.nodeStageVolume(good.toBuilder().setVolumeId("local-lvm:junk").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "access mode MULTI_NODE_MULTI_WRITER",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.MULTI_NODE_MULTI_WRITER))));
    rejected(Status.Code.INVALID_ARGUMENT, "fsType zfs needs a zfspool storage",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("zfs", Mode.SINGLE_NODE_WRITER))));
    rejected(Status.Code.INVALID_ARGUMENT, "fsType btrfs is not supported",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("btrfs", Mode.SINGLE_NODE_WRITER))));
    rejected(Status.Code.FAILED_PRECONDITION, "subvol volume and cannot be used as a block",
        () -> node.nodeStageVolume(stage(ZFS_VOL, block(Mode.SINGLE_NODE_WRITER))));
    rejected(Status.Code.FAILED_PRECONDITION, "raw volume and cannot be used as fsType zfs",
        () -> node.nodeStageVolume(stage("local-zfs:vm-100-disk-0",
            mount("zfs", Mode.SINGLE_NODE_WRITER))));
    assertEquals(List.of(), runner.commands(), "no command ran");
    assertEquals(List.of(), lvm.calls);
  }

  @Test
  void stageFormatsABlankDeviceAndMountsItWithTheCapabilityFlags() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenExit(1, "", MISSING)
        .expect("mkdir", "-p", STAGING).thenSucceed()
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "")
        .expect("mkfs.ext4", "-q", "-m", "0", "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard", DEV).thenSucceed()
        .expect("mount", "-t", "ext4", "-o", "noatime", DEV, STAGING).thenSucceed();
    VolumeCapability cap = mount("", Mode.SINGLE_NODE_WRITER).toBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().addMountFlags("noatime")).build();
    node.nodeStageVolume(stage(LVM_VOL, cap));
    runner.verifyAllConsumed();
    assertEquals(List.of("activate vm-100-disk-0"), lvm.calls);
    assertEquals(0, inFlight.size(), "the claim is released");
  }

  @Test
  void stageMountsAnExistingFilesystemReadOnlyForAReaderAndNeverFormatsIt() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=xfs\nUSAGE=filesystem\n")
        .expect("mount", "-t", "xfs", "-o", "ro,nouuid", DEV, STAGING).thenSucceed();
    node.nodeStageVolume(stage(LVM_VOL, mount("", Mode.SINGLE_NODE_READER_ONLY)).toBuilder()
        .putVolumeContext("fsType", "xfs").build());
    runner.verifyAllConsumed();
  }

  @Test
  void stageRefusesADeviceWithAnotherSignature() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=swap\nUSAGE=other\n");
    rejected(Status.Code.FAILED_PRECONDITION, "holds swap (other), not an empty device or a ext4",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void stageIsIdempotentAndRefusesAnotherMountAtTheStagingPath() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/mapper/pve-vm--100--disk--0",
            "ext4", "rw,relatime", "253:3", "/")));
    node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/sdb", "ext4", "rw", "8:16",
            "/")));
    rejected(Status.Code.ALREADY_EXISTS, STAGING + " already has /dev/sdb",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/dm-3", "ext4", "rw", "253:3",
            "/")));
    rejected(Status.Code.ALREADY_EXISTS, "already has",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("xfs", Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void stageOfADatasetBindsItsOwnMountpoint() {
    runner.expect(findmnt()).thenSucceed(table(entry(DATASET_DIR, "rpool/data/subvol-100-disk-0",
            "zfs", "rw,xattr,posixacl", "0:52", "/")))
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("mount", "--bind", DATASET_DIR, STAGING).thenSucceed();
    node.nodeStageVolume(stage(ZFS_VOL, mount("zfs", Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
    assertEquals(List.of("activate subvol-100-disk-0"), zfs.calls);
  }

  @Test
  void stageOfABlockVolumeOnlyActivatesAndChecksTheDevice() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE);
    node.nodeStageVolume(stage(LVM_VOL, block(Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  @Test
  void aSecondCallOnTheSameVolumeIsAborted() {
    try (var claim = inFlight.enter("volume", LVM_VOL)) {
      rejected(Status.Code.ABORTED, "already in progress",
          () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
      rejected(Status.Code.ABORTED, "already in progress",
          () -> node.nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
              .setVolumeId(LVM_VOL).setTargetPath(TARGET).build()));
    }
    assertEquals(List.of(), runner.commands());
  }

  // ---- publish --------------------------------------------------------------------------------

  @Test
  void publishValidatesTargetStagingAndCapability() {
    NodePublishVolumeRequest good = publish(LVM_VOL, TARGET, mount("ext4", Mode.SINGLE_NODE_WRITER));
    rejected(Status.Code.INVALID_ARGUMENT, "target_path is required",
        () -> node.nodePublishVolume(good.toBuilder().clearTargetPath().build()));
    rejected(Status.Code.FAILED_PRECONDITION, "staging_target_path is not set",
        () -> node.nodePublishVolume(good.toBuilder().clearStagingTargetPath().build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_capability is required",
        () -> node.nodePublishVolume(good.toBuilder().clearVolumeCapability().build()));
    rejected(Status.Code.NOT_FOUND, "not served",
        () -> node.nodePublishVolume(good.toBuilder().setVolumeId("gone:vm-1-disk-0").build()));
    assertEquals(List.of(), runner.commands());
  }

  @Test
  void publishBindsTheStagedFilesystemReadOnlyWhenAsked() {
    runner.expect(findmnt()).thenSucceed(table(staged()))
        .expect(stat(TARGET)).thenExit(1, "", MISSING)
        .expect("mkdir", "-p", TARGET).thenSucceed()
        .expect("mount", "--bind", STAGING, TARGET).thenSucceed()
        .expect("mount", "-o", "remount,bind,ro", TARGET).thenSucceed();
    node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4", Mode.SINGLE_NODE_WRITER))
        .toBuilder().setReadonly(true).build());
    runner.verifyAllConsumed();
  }

  @Test
  void publishIsIdempotentAndRefusesAnotherVolumeOrAWritableRequestOnAReadOnlyBind() {
    String bound = entry(TARGET, "/dev/mapper/pve-vm--100--disk--0", "ext4", "rw", "253:3", "/");
    runner.expect(findmnt()).thenSucceed(table(staged(), bound));
    node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.expect(findmnt()).thenSucceed(table(staged(),
        entry(TARGET, "/dev/sdc", "ext4", "rw", "8:32", "/")));
    rejected(Status.Code.ALREADY_EXISTS, TARGET + " already has /dev/sdc",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.expect(findmnt()).thenSucceed(table(staged(), bound.replace("\"rw\"", "\"ro\"")));
    rejected(Status.Code.ALREADY_EXISTS, "already mounted read-only; read-write was asked",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.FAILED_PRECONDITION, "nothing is mounted at " + STAGING,
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void publishOfABlockVolumeBindsTheDeviceOntoAFile() {
    runner.expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(BLOCK_TARGET)).thenExit(1, "", MISSING)
        .expect("touch", BLOCK_TARGET).thenSucceed()
        .expect("mount", "--bind", DEV, BLOCK_TARGET).thenSucceed();
    node.nodePublishVolume(publish(LVM_VOL, BLOCK_TARGET, block(Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  // ---- unpublish and unstage ------------------------------------------------------------------

  @Test
  void unpublishUnmountsEverythingStackedThenRemovesTheDirectory() {
    String bind = entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3", "/");
    runner.expect(findmnt()).thenSucceed(table(bind, bind))
        .expect("umount", TARGET).thenSucceed()
        .expect(findmnt()).thenSucceed(table(bind))
        .expect("umount", TARGET).thenSucceed()
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect("rmdir", TARGET).thenSucceed();
    node.nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(LVM_VOL)
        .setTargetPath(TARGET).build());
    runner.verifyAllConsumed();
  }

  @Test
  void unpublishAndUnstageOfWhatIsGoneSucceed() {
    runner.expect(findmnt()).thenSucceed(table())
        .expect(stat(TARGET)).thenExit(1, "", MISSING)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenExit(1, "", MISSING);
    node.nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
        .setVolumeId("gone:vm-1-disk-0").setTargetPath(TARGET).build());
    node.nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(LVM_VOL)
        .setStagingTargetPath(STAGING).build());
    runner.verifyAllConsumed();
    assertEquals(List.of("deactivate vm-100-disk-0"), lvm.calls);
  }

  @Test
  void unstageOfABusyMountFailsAndLeavesItMounted() {
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path is required",
        () -> node.nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(LVM_VOL)
            .build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_id is required",
        () -> node.nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
            .setTargetPath(TARGET).build()));
    runner.expect(findmnt()).thenSucceed(table(staged()))
        .expect("umount", STAGING).thenExit(32, "", "umount: " + STAGING + ": target is busy.");
    rejected(Status.Code.FAILED_PRECONDITION, "never forced or lazily unmounted",
        () -> node.nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(LVM_VOL)
            .setStagingTargetPath(STAGING).build()));
    runner.verifyAllConsumed();
  }

  // ---- stats ----------------------------------------------------------------------------------

  @Test
  void statsReportBytesInodesAndAHealthyCondition() {
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(staged(),
            entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3", "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("stat", "-f", "-c", FilesystemStats.FORMAT, TARGET)
        .thenSucceed("4096 1000 600 500 2000 1990\n");
    NodeGetVolumeStatsResponse stats = node.nodeGetVolumeStats(stats(LVM_VOL, TARGET));
    assertEquals(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(4_096_000)
        .setAvailable(2_048_000).setUsed(1_638_400).build(), stats.getUsage(0));
    assertEquals(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.INODES).setTotal(2000)
        .setAvailable(1990).setUsed(10).build(), stats.getUsage(1));
    assertFalse(stats.getVolumeCondition().getAbnormal());
    runner.verifyAllConsumed();
  }

  @Test
  void statsOfABlockVolumeAreItsSize() {
    runner.expect(stat(BLOCK_TARGET)).thenSucceed(DEVICE)
        .expect("blockdev", "--getsize64", BLOCK_TARGET).thenSucceed("1073741824\n");
    NodeGetVolumeStatsResponse stats = node.nodeGetVolumeStats(stats(LVM_VOL, BLOCK_TARGET));
    assertEquals(1, stats.getUsageCount());
    assertEquals(1L << 30, stats.getUsage(0).getTotal());
    assertFalse(stats.getVolumeCondition().getAbnormal());
  }

  @Test
  void statsNameWhatIsWrong() {
    rejected(Status.Code.INVALID_ARGUMENT, "volume_path is required",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, "")));
    runner.expect(stat(TARGET)).thenExit(1, "", MISSING);
    rejected(Status.Code.NOT_FOUND, "volume_path " + TARGET + " does not exist",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));

    lvm.sizes.clear();
    lvm.status = new PoolStatus(10L << 30, 10L << 30, 0, 4L << 30, OptionalLong.empty(),
        OptionalLong.empty(), 0, true);
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.NOT_FOUND, "does not exist and nothing is mounted",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(
            entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3", "/")))
        .expect("stat", "-f", "-c", FilesystemStats.FORMAT, TARGET)
        .thenSucceed("4096 1000 600 500 2000 1990\n");
    NodeGetVolumeStatsResponse stats = node.nodeGetVolumeStats(stats(LVM_VOL, TARGET));
    assertTrue(stats.getVolumeCondition().getAbnormal());
    String message = stats.getVolumeCondition().getMessage();
    assertTrue(message.contains("the backing volume is gone"), message);
    assertTrue(message.contains("storage local-lvm is full"), message);

    lvm.sizes.put("vm-100-disk-0", 1L << 30);
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    stats = node.nodeGetVolumeStats(stats(LVM_VOL, TARGET));
    assertTrue(stats.getVolumeCondition().getMessage().contains(TARGET + " is not mounted"),
        stats.toString());
    assertEquals(0, stats.getUsageCount());

    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/sda1", "ext4", "rw", "8:1",
            "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE);
    rejected(Status.Code.NOT_FOUND, "is not at " + TARGET,
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));

    lvm.status = new PoolStatus(0, 0, 0, 0, OptionalLong.empty(), OptionalLong.empty(), 0, false);
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3",
            "/").replace("\"fs-options\": \"rw\"", "\"fs-options\": \"ro,errors=remount-ro\"")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("stat", "-f", "-c", FilesystemStats.FORMAT, TARGET)
        .thenSucceed("4096 1000 600 500 2000 1990\n");
    message = node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)).getVolumeCondition().getMessage();
    assertTrue(message.contains("storage local-lvm is not active"), message);
    assertTrue(message.contains("made read-only by the kernel"), message);
    runner.verifyAllConsumed();
  }

  // ---- expand ---------------------------------------------------------------------------------

  @Test
  void expandValidatesTheRangeBeforeAnyCommand() {
    rejected(Status.Code.INVALID_ARGUMENT, "required_bytes (3) is larger than",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 3, 2)));
    rejected(Status.Code.INVALID_ARGUMENT, "must not be negative",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, -1, 0)));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_path is required",
        () -> node.nodeExpandVolume(expand(LVM_VOL, "", 1, 0)));
    rejected(Status.Code.NOT_FOUND, "not served",
        () -> node.nodeExpandVolume(expand("nope:vm-1-disk-0", TARGET, 1, 0)));
    rejected(Status.Code.OUT_OF_RANGE, "more than capacity_range.limit_bytes",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 0, 1L << 20)));
    assertEquals(List.of(), runner.commands());
    assertEquals(List.of(), lvm.calls);
  }

  @Test
  void expandGrowsTheVolumeUnderTheLockThenTheFilesystem() {
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(staged(),
            entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3", "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("resize2fs", DEV).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("2147483648\n");
    long size = node.nodeExpandVolume(expand(LVM_VOL, TARGET, 2L << 30, 0)).getCapacityBytes();
    assertEquals(2L << 30, size);
    assertEquals(List.of("resize vm-100-disk-0 " + (2L << 30)), lvm.calls);
    runner.verifyAllConsumed();
  }

  @Test
  void expandOfXfsGrowsAtTheMountPointAndOfBlockOnlyTheDevice() {
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/dm-3", "xfs", "rw", "253:3",
            "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("xfs_growfs", "-d", TARGET).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n");
    assertEquals(1L << 30, node.nodeExpandVolume(expand(LVM_VOL, TARGET, 1L << 30, 0))
        .getCapacityBytes());
    assertEquals(List.of(), lvm.calls, "the volume already had the size: no resize");

    runner.expect("blockdev", "--getsize64", DEV).thenSucceed("3221225472\n");
    assertEquals(3L << 30, node.nodeExpandVolume(expand(LVM_VOL, BLOCK_TARGET, 3L << 30, 0)
        .toBuilder().setVolumeCapability(block(Mode.SINGLE_NODE_WRITER)).build())
        .getCapacityBytes());
    runner.verifyAllConsumed();
  }

  @Test
  void expandOfADatasetIsItsQuotaAlone() {
    long size = node.nodeExpandVolume(expand(ZFS_VOL, TARGET, 3L << 30, 0)).getCapacityBytes();
    assertEquals(3L << 30, size);
    assertEquals(List.of("resize subvol-100-disk-0 " + (3L << 30)), zfs.calls);
    assertEquals(List.of(), runner.commands());
  }

  @Test
  void expandOfAnUnmountedPathIsAPrecondition() {
    runner.expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.FAILED_PRECONDITION, "is not mounted",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 1L << 30, 0)));
    runner.verifyAllConsumed();
  }

  // ---- helpers --------------------------------------------------------------------------------

  private void rejected(Status.Code code, String message, Executable call) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
    assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
    assertTrue(e.getStatus().getDescription().contains(message), e.getStatus().getDescription());
  }

  private static VolumeCapability mount(String fsType, Mode mode) {
    return VolumeRequestValidationTest.mount(fsType, mode);
  }

  private static VolumeCapability block(Mode mode) {
    return VolumeRequestValidationTest.block(mode);
  }

  private static NodeStageVolumeRequest stage(String volumeId, VolumeCapability cap) {
    return NodeStageVolumeRequest.newBuilder().setVolumeId(volumeId)
        .setStagingTargetPath(STAGING).setVolumeCapability(cap).build();
  }

  private static NodePublishVolumeRequest publish(String volumeId, String target,
      VolumeCapability cap) {
    return NodePublishVolumeRequest.newBuilder().setVolumeId(volumeId)
        .setStagingTargetPath(STAGING).setTargetPath(target).setVolumeCapability(cap).build();
  }

  private static NodeGetVolumeStatsRequest stats(String volumeId, String path) {
    return NodeGetVolumeStatsRequest.newBuilder().setVolumeId(volumeId).setVolumePath(path)
        .build();
  }

  private static NodeExpandVolumeRequest expand(String volumeId, String path, long required,
      long limit) {
    return NodeExpandVolumeRequest.newBuilder().setVolumeId(volumeId).setVolumePath(path)
        .setStagingTargetPath(STAGING).setCapacityRange(CapacityRange.newBuilder()
            .setRequiredBytes(required).setLimitBytes(limit)).build();
  }

  private static List<String> findmnt() {
    return List.of("findmnt", "-J", "-l", "-o", FindmntParser.COLUMNS);
  }

  private static List<String> stat(String path) {
    return List.of("stat", "-c", FileInfo.FORMAT, path);
  }

  private static List<String> statL(String path) {
    return List.of("stat", "-L", "-c", FileInfo.FORMAT, path);
  }

  private static String staged() {
    return entry(STAGING, "/dev/mapper/pve-vm--100--disk--0", "ext4", "rw,relatime", "253:3", "/");
  }

  private static String entry(String target, String source, String fsType, String vfsOptions,
      String majMin, String fsRoot) {
    return "{\"target\": \"" + target + "\", \"source\": \"" + source + "\", \"fstype\": \""
        + fsType + "\", \"vfs-options\": \"" + vfsOptions + "\", \"fs-options\": \"rw\", "
        + "\"maj:min\": \"" + majMin + "\", \"fsroot\": \"" + fsRoot + "\"}";
  }

  /** findmnt's JSON with the root filesystem and these entries. */
  private static String table(String... entries) {
    List<String> all = new ArrayList<>();
    all.add(entry("/", "/dev/sda1", "ext4", "rw,relatime", "8:1", "/"));
    all.addAll(List.of(entries));
    return "{\"filesystems\": [" + String.join(",\n", all) + "]}\n";
  }
}
