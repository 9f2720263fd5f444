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
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.KubeletDir;
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
  /** Where the volume's LUKS2 mapping would be (absent unless a test opens it). */
  private static final String MAPPER = "/dev/mapper/pvecsi-vm-100-disk-0-6204c581";
  private static final String ZFS_VOL = "local-zfs:subvol-100-disk-0";
  private static final String DATASET_DIR = "/rpool/data/subvol-100-disk-0";
  private static final String STAGING = "/var/lib/kubelet/plugins/kubernetes.io/csi/pve-storage.csi.io/abc/globalmount";
  private static final String TARGET = "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount";
  private static final String BLOCK_TARGET = "/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-1/p1";
  private static final String KUBELET = "/var/lib/kubelet";
  private static final String DIRECTORY = "directory|0|0|4096";
  private static final String DEVICE = "block special file|fd|3|0";
  private static final String EMPTY_FILE = "regular empty file|0|0|0";
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
  private java.util.logging.Handler logCapture;

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, LockObserver.NONE);
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm, zfs), lock,
        Duration.ofSeconds(5), clock);
    Mounter mounter = new Mounter(runner, Duration.ofSeconds(30), Duration.ofMinutes(10));
    csi = new InProcessCsi((method, code, took) -> observed.add(method + " " + code),
        List.of(new NodeService(storages, inFlight, mounter,
            new KubeletDir(new HostPath(KUBELET)), 250)));
    node = NodeGrpc.newBlockingStub(csi.channel());
    lvm.sizes.put("vm-100-disk-0", 1L << 30);
    zfs.sizes.put("subvol-100-disk-0", 2L << 30);
  }

  @AfterEach
  void stop() throws Exception {
    if (logCapture != null) {
      java.util.logging.Logger.getLogger("").removeHandler(logCapture);
    }
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
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path is required",
        () -> node.nodeStageVolume(good.toBuilder().clearStagingTargetPath().build()));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path 'rel/x' must be absolute",
        () -> node.nodeStageVolume(good.toBuilder().setStagingTargetPath("rel/x").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "'..' segments",
        () -> node.nodeStageVolume(good.toBuilder().setStagingTargetPath("/a/../etc").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_capability is required",
        () -> node.nodeStageVolume(good.toBuilder().clearVolumeCapability().build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_capability is required",
        () -> node.nodeStageVolume(good.toBuilder().clearVolumeCapability()
            .setVolumeId("never-issued").build()));
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

  /**
   * Issue 13 point 4: an ID this driver could never have issued names a volume that does not
   * exist, in every RPC that needs the volume; the ID comes back escaped and bounded.
   */
  @Test
  void anIdTheDriverNeverIssuesIsNotFoundEverywhere() {
    String huge = "local-lvm:" + "x".repeat(1 << 20);
    for (String id : List.of("no-colon", "local-lvm:junk", "other:vm-1-disk-0", huge,
        "local-lvm:vm-100-disk-0\nFORGED log line", "local-lvm:vm@1")) {
      for (Executable call : List.<Executable>of(
          () -> node.nodeStageVolume(stage(id, mount("ext4", Mode.SINGLE_NODE_WRITER))),
          () -> node.nodeStageVolume(stage(id, mount("ext4", Mode.SINGLE_NODE_WRITER))
              .toBuilder().setStagingTargetPath("/etc").build()),
          () -> node.nodeExpandVolume(expand(id, "relative", 1L << 30, 0)),
          () -> node.nodePublishVolume(publish(id, TARGET, mount("ext4",
              Mode.SINGLE_NODE_WRITER))),
          () -> node.nodeExpandVolume(expand(id, TARGET, 1L << 30, 0)),
          () -> node.nodeGetVolumeStats(stats(id, TARGET)))) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode(), e.getStatus().toString());
        String message = e.getStatus().getDescription();
        assertTrue(message.length() < 600, "bounded: " + message.length());
        assertFalse(message.contains("\n"), "escaped: " + message);
      }
    }
    assertEquals(List.of(), runner.commands(), "nothing ran for an ID that names nothing");
    assertEquals(List.of(), lvm.calls);
  }

  @Test
  void stageFormatsABlankDeviceAndMountsItWithTheCapabilityFlags() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenExit(1, "", MISSING)
        .expect("mkdir", "-p", STAGING).thenSucceed()
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "")
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dd", "if=" + DEV, "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
            "status=none").thenSucceed()
        .expect("mkfs.ext4", "-q", "-m", "0", "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard", DEV).thenSucceed()
        .expect("mount", "-t", "ext4", "-o", "noatime,nodev", DEV, STAGING).thenSucceed();
    VolumeCapability cap = mount("", Mode.SINGLE_NODE_WRITER).toBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().addMountFlags("noatime,nodev"))
        .build();
    node.nodeStageVolume(stage(LVM_VOL, cap));
    runner.verifyAllConsumed();
    assertEquals(List.of("activate vm-100-disk-0"), lvm.calls);
    assertEquals(0, inFlight.size(), "the claim is released");
  }

  /** Issue 13 point 8: blkid's "nothing found" for a device that cannot be read is not blank. */
  @Test
  void aDeviceBlkidCouldNotReadIsNeverFormatted() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "")
        .expect("blockdev", "--getsize64", DEV).thenSucceed("0\n");
    rejected(Status.Code.UNAVAILABLE, "size of 0 bytes",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "")
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dd", "if=" + DEV, "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
            "status=none").thenExit(1, "", "dd: error reading '" + DEV
                + "': Input/output error");
    rejected(Status.Code.UNAVAILABLE, "not treated as blank",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "blkid: error: " + DEV
            + ": Permission denied");
    rejected(Status.Code.INTERNAL, "not treated as blank",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
    assertTrue(runner.commands().stream().noneMatch(c -> c.argv().get(0).startsWith("mkfs")),
        "never formatted");
  }

  @Test
  void stageMountsAnExistingFilesystemReadOnlyForAReaderAndNeverFormatsOrGrowsIt() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=xfs\nUSAGE=filesystem\n")
        .expect("mount", "-t", "xfs", "-o", "ro,nouuid", DEV, STAGING).thenSucceed();
    node.nodeStageVolume(stage(LVM_VOL, mount("", Mode.SINGLE_NODE_READER_ONLY)).toBuilder()
        .putVolumeContext("fsType", "xfs").build());
    runner.verifyAllConsumed();
  }

  /** Issue 13 point 2: a restore or clone into a larger volume gets its filesystem grown. */
  @Test
  void stageGrowsARestoredExt4ToItsDevice() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=ext4\nUSAGE=filesystem\n")
        .expect("mount", "-t", "ext4", DEV, STAGING).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dumpe2fs", "-h", DEV).thenSucceed(dumpe2fs(4096, 65536))
        .expect("resize2fs", DEV).thenSucceed();
    node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  @Test
  void stageGrowsARestoredXfsAtItsMountPoint() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=xfs\nUSAGE=filesystem\n")
        .expect("mount", "-t", "xfs", "-o", "nouuid", DEV, STAGING).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("xfs_io", "-r", "-c", "statfs", STAGING)
        .thenSucceed("geom.bsize = 4096\ngeom.datablocks = 76800\n")
        .expect("xfs_growfs", "-d", STAGING).thenSucceed();
    node.nodeStageVolume(stage(LVM_VOL, mount("xfs", Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  /**
   * A repeated stage (also the retry after a crash between mount and growth) compares again and
   * grows only what is smaller than its device; a filesystem larger than its device is never
   * shrunk.
   */
  @Test
  void aRepeatedStageGrowsOnlyWhatIsSmallerAndNeverShrinks() {
    String mounted = entry(STAGING, "/dev/mapper/pve-vm--100--disk--0", "ext4", "rw,relatime",
        "253:3", "/");
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(mounted))
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dumpe2fs", "-h", DEV).thenSucceed(dumpe2fs(4096, 65536))
        .expect("resize2fs", DEV).thenSucceed();
    node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    for (long blocks : new long[] {262144, 262143, 300000}) {
      runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
          .expect(statL(DEV)).thenSucceed(DEVICE)
          .expect(findmnt()).thenSucceed(table(mounted))
          .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
          .expect("dumpe2fs", "-h", DEV).thenSucceed(dumpe2fs(4096, blocks));
      node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    }
    runner.verifyAllConsumed();
    assertEquals(1, runner.commands().stream().filter(c -> c.argv().get(0).equals("resize2fs"))
        .count(), "grown once: equal, one block short, and larger are left as they are");
  }

  @Test
  void stageRefusesADeviceWithAnotherSignature() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=swap\nUSAGE=other\n");
    rejected(Status.Code.FAILED_PRECONDITION, "holds swap (other), not an empty device or a ext4",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void stageIsIdempotentAndRefusesAnotherMountAtTheStagingPath() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/mapper/pve-vm--100--disk--0",
            "ext4", "rw,relatime", "253:3", "/")))
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dumpe2fs", "-h", DEV).thenSucceed(dumpe2fs(4096, 262144));
    node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/sdb", "ext4", "rw", "8:16",
            "/")));
    rejected(Status.Code.ALREADY_EXISTS, STAGING + " already has /dev/sdb",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/dm-3", "ext4", "rw", "253:3",
            "/")));
    rejected(Status.Code.ALREADY_EXISTS, "already has",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("xfs", Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void stageOfADatasetBindsItsOwnMountpointWithTheAllowedFlags() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(dataset(DATASET_DIR)))
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("mount", "--bind", DATASET_DIR, STAGING).thenSucceed()
        .expect("mount", "-o", "remount,bind,noatime,nosuid", STAGING).thenSucceed();
    VolumeCapability cap = mount("zfs", Mode.SINGLE_NODE_WRITER).toBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType("zfs")
            .addMountFlags("noatime").addMountFlags("nosuid")).build();
    node.nodeStageVolume(stage(ZFS_VOL, cap));
    runner.verifyAllConsumed();
    assertEquals(List.of("activate subvol-100-disk-0"), zfs.calls);
    rejected(Status.Code.INVALID_ARGUMENT, "'discard' is not allowed on a ZFS dataset",
        () -> node.nodeStageVolume(stage(ZFS_VOL, cap.toBuilder().setMount(cap.getMount()
            .toBuilder().addMountFlags("discard")).build())));
  }

  @Test
  void stageOfABlockVolumeOnlyActivatesAndChecksTheDevice() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE);
    node.nodeStageVolume(stage(LVM_VOL, block(Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  @Test
  void aSecondCallOnTheSameVolumeIsAborted() {
    try (var claim = inFlight.enter("volume", LVM_VOL)) {
      runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
          .expect(realpath(TARGET)).thenSucceed(resolved(TARGET));
      rejected(Status.Code.ABORTED, "already in progress",
          () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
      rejected(Status.Code.ABORTED, "already in progress",
          () -> node.nodeUnpublishVolume(unpublish(LVM_VOL, TARGET)));
    }
    runner.verifyAllConsumed();
    assertEquals(List.of(), lvm.calls);
  }

  // ---- what is not the driver's ---------------------------------------------------------------

  /**
   * Issue 13 point 3: a volume the driver did not make (no CSI ownership recorded, e.g. a
   * Proxmox guest disk) is refused by stage, publish and expand, and one that does not exist is
   * NOT_FOUND, before anything changes: the refusal comes from the plugin's read-only listing,
   * no host command ran, nothing was activated, formatted, mounted or resized.
   */
  @Test
  void aVolumeTheDriverDidNotMakeIsRefusedBeforeAnythingChanges() {
    lvm.foreign.add("vm-100-disk-0");
    zfs.foreign.add("subvol-100-disk-0");
    for (String id : List.of(LVM_VOL, ZFS_VOL)) {
      VolumeCapability cap = id.equals(ZFS_VOL) ? mount("zfs", Mode.SINGLE_NODE_WRITER)
          : mount("ext4", Mode.SINGLE_NODE_WRITER);
      rejected(Status.Code.FAILED_PRECONDITION, "volume " + id + " exists but was not created "
          + "by this driver", () -> node.nodeStageVolume(stage(id, cap)));
      rejected(Status.Code.FAILED_PRECONDITION, "not created by this driver",
          () -> node.nodePublishVolume(publish(id, TARGET, cap)));
      rejected(Status.Code.FAILED_PRECONDITION, "not created by this driver",
          () -> node.nodeExpandVolume(expand(id, TARGET, 4L << 30, 0)));
    }
    lvm.sizes.clear();
    rejected(Status.Code.NOT_FOUND, "volume " + LVM_VOL + " does not exist on node node-a",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))));
    rejected(Status.Code.NOT_FOUND, "does not exist",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, block(Mode.SINGLE_NODE_WRITER))));
    rejected(Status.Code.NOT_FOUND, "does not exist",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 4L << 30, 0)));
    // A volume that does not exist is NOT_FOUND whatever path the request names.
    rejected(Status.Code.NOT_FOUND, "does not exist", () -> node.nodeExpandVolume(
        expand(LVM_VOL, "/etc", 4L << 30, 0)));
    assertEquals(List.of(), runner.commands(), "no command ran on the host");
    assertEquals(List.of(), lvm.calls, "nothing activated or resized");
    assertEquals(List.of(), zfs.calls, "nothing activated or resized");
  }

  /**
   * Issue 13 point 3: every path lies below the kubelet directory, as text and once its links
   * are resolved on the host; a bad path is INVALID_ARGUMENT naming the field (NOT_FOUND for
   * stats, where a path that is not a volume path is not found), before anything changes.
   */
  @Test
  void pathsOutsideTheKubeletDirAreRefusedNamingTheField() {
    VolumeCapability cap = mount("ext4", Mode.SINGLE_NODE_WRITER);
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path /etc is not below the kubelet "
        + "directory /var/lib/kubelet", () -> node.nodeStageVolume(stage(LVM_VOL, cap).toBuilder()
            .setStagingTargetPath("/etc").build()));
    rejected(Status.Code.INVALID_ARGUMENT, "target_path /proc is not below",
        () -> node.nodePublishVolume(publish(LVM_VOL, "/proc", cap)));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path /var/lib/kubelet is not below",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, cap).toBuilder()
            .setStagingTargetPath(KUBELET).build()));
    rejected(Status.Code.INVALID_ARGUMENT, "target_path /sys/fs/cgroup is not below",
        () -> node.nodeUnpublishVolume(unpublish(LVM_VOL, "/sys/fs/cgroup")));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path /var/lib/kubeletx is not below",
        () -> node.nodeUnstageVolume(unstage(LVM_VOL, "/var/lib/kubeletx")));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_path /home is not below",
        () -> node.nodeExpandVolume(expand(LVM_VOL, "/home", 1, 0)));
    rejected(Status.Code.NOT_FOUND, "volume_path /etc is not below",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, "/etc")));
    rejected(Status.Code.NOT_FOUND, "volume_path 'rel/x' must be absolute",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, "rel/x")));
    rejected(Status.Code.NOT_FOUND, "'..' segments",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, KUBELET + "/../../etc")));
    assertEquals(List.of(), runner.commands(), "refused as text: nothing ran");

    String escape = KUBELET + "/pods/p1/volumes/link/mount";
    runner.expect(realpath(escape)).thenSucceed(resolved("/etc/mount"));
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path " + escape
        + " (it resolves to /etc/mount) is not below",
        () -> node.nodeStageVolume(stage(LVM_VOL, cap).toBuilder()
            .setStagingTargetPath(escape).build()));
    runner.expect(realpath(escape)).thenSucceed(resolved("/etc/mount"));
    rejected(Status.Code.INVALID_ARGUMENT, "target_path " + escape + " (it resolves to",
        () -> node.nodeUnpublishVolume(unpublish(LVM_VOL, escape)));
    runner.expect(realpath(escape)).thenSucceed(resolved("/etc/mount"));
    rejected(Status.Code.NOT_FOUND, "it resolves to /etc/mount",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, escape)));
    runner.verifyAllConsumed();
    assertEquals(List.of(), lvm.calls);
  }

  /**
   * A kubelet directory that is itself a link: paths are resolved and then used as resolved
   * (which is also how the mount table shows them).
   */
  @Test
  void resolvedPathsAreWhatIsMounted() {
    String real = "/data/kubelet/plugins/kubernetes.io/csi/pve-storage.csi.io/abc/globalmount";
    runner.expect(realpath(STAGING)).thenExit(0, "/data/kubelet\0" + real + "\0", "")
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table(entry(real, "/dev/dm-3", "ext4", "rw", "253:3",
            "/")))
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dumpe2fs", "-h", DEV).thenSucceed(dumpe2fs(4096, 262144));
    node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  /**
   * Issue 13 point 3: mount flags come from the allow-list; a refusal names the flag's key and
   * never its value, before anything runs.
   */
  @Test
  void mountFlagsOutsideTheAllowListAreRefusedWithoutEchoingValues() {
    for (String flag : List.of("exec", "suid", "dev", "remount", "bind", "rbind", "move",
        "password=hunter2", "noatime,exec")) {
      VolumeCapability cap = mount("ext4", Mode.SINGLE_NODE_WRITER).toBuilder()
          .setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4")
              .addMountFlags(flag)).build();
      String key = flag.contains(",") ? "exec" : flag.split("=")[0];
      for (Executable call : List.<Executable>of(
          () -> node.nodeStageVolume(stage(LVM_VOL, cap)),
          () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, cap)))) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("mount flag '" + key + "'"),
            e.getStatus().getDescription());
        assertFalse(e.getStatus().getDescription().contains("hunter2"),
            "the value is never echoed: " + e.getStatus().getDescription());
      }
    }
    assertEquals(List.of(), runner.commands());
    assertEquals(List.of(), lvm.calls);
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
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table(staged()))
        .expect(statL(DEV)).thenSucceed(DEVICE)
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
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table(staged(), bound))
        .expect(statL(DEV)).thenSucceed(DEVICE);
    node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4", Mode.SINGLE_NODE_WRITER)));
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table(staged(),
            entry(TARGET, "/dev/sdc", "ext4", "rw", "8:32", "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE);
    rejected(Status.Code.ALREADY_EXISTS, TARGET + " already has /dev/sdc",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table(staged(), bound.replace("\"rw\"", "\"ro\"")))
        .expect(statL(DEV)).thenSucceed(DEVICE);
    rejected(Status.Code.ALREADY_EXISTS, "already mounted read-only; read-write was asked",
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.FAILED_PRECONDITION, "nothing is mounted at " + STAGING,
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  /** A staging path that shows another filesystem is never handed to a pod as this volume. */
  @Test
  void publishRefusesAStagingPathThatHoldsSomethingElse() {
    runner.expect(realpath(TARGET, STAGING)).thenSucceed(resolved(TARGET, STAGING))
        .expect(findmnt()).thenSucceed(table(entry(STAGING, "/dev/sdb1", "ext4", "rw", "8:17",
            "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(STAGING)).thenSucceed(DIRECTORY)
        .expect(statL(MAPPER)).thenExit(1, "", MISSING);
    rejected(Status.Code.FAILED_PRECONDITION, STAGING + " shows /dev/sdb1 (ext4, rw) on "
        + STAGING + ", not the device " + DEV,
        () -> node.nodePublishVolume(publish(LVM_VOL, TARGET, mount("ext4",
            Mode.SINGLE_NODE_WRITER))));
    runner.verifyAllConsumed();
  }

  @Test
  void publishOfABlockVolumeBindsTheDeviceOntoAFile() {
    runner.expect(realpath(BLOCK_TARGET, STAGING)).thenSucceed(resolved(BLOCK_TARGET, STAGING))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(BLOCK_TARGET)).thenExit(1, "", MISSING)
        .expect("touch", BLOCK_TARGET).thenSucceed()
        .expect("mount", "--bind", DEV, BLOCK_TARGET).thenSucceed();
    node.nodePublishVolume(publish(LVM_VOL, BLOCK_TARGET, block(Mode.SINGLE_NODE_WRITER)));
    runner.verifyAllConsumed();
  }

  // ---- unpublish and unstage ------------------------------------------------------------------

  @Test
  void unpublishUnmountsTheVolumesStackedBindsThenRemovesTheDirectory() {
    String bind = entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3", "/");
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(findmnt()).thenSucceed(table(bind, bind))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("umount", TARGET).thenSucceed()
        .expect(findmnt()).thenSucceed(table(bind))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("umount", TARGET).thenSucceed()
        .expect(findmnt()).thenSucceed(table())
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect("rmdir", TARGET).thenSucceed();
    node.nodeUnpublishVolume(unpublish(LVM_VOL, TARGET));
    runner.verifyAllConsumed();
  }

  @Test
  void unpublishOfABlockTargetRemovesOnlyTheEmptyFileItMade() {
    String bound = entry(BLOCK_TARGET, "udev[/dm-3]", "devtmpfs", "rw", "0:5", "/dm-3");
    runner.expect(realpath(BLOCK_TARGET)).thenSucceed(resolved(BLOCK_TARGET))
        .expect(findmnt()).thenSucceed(table(bound))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(BLOCK_TARGET)).thenSucceed(DEVICE)
        .expect("umount", BLOCK_TARGET).thenSucceed()
        .expect(findmnt()).thenSucceed(table())
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(BLOCK_TARGET)).thenSucceed(EMPTY_FILE)
        .expect("rm", BLOCK_TARGET).thenSucceed();
    node.nodeUnpublishVolume(unpublish(LVM_VOL, BLOCK_TARGET));
    runner.expect(realpath(BLOCK_TARGET)).thenSucceed(resolved(BLOCK_TARGET))
        .expect(findmnt()).thenSucceed(table())
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(BLOCK_TARGET)).thenSucceed("regular file|0|0|12");
    rejected(Status.Code.FAILED_PRECONDITION, "is a file of 12 bytes",
        () -> node.nodeUnpublishVolume(unpublish(LVM_VOL, BLOCK_TARGET)));
    runner.verifyAllConsumed();
  }

  /**
   * Issue 13 point 3: something that is not this volume's, mounted at the path, stays mounted
   * (and the path stays); that is FAILED_PRECONDITION, never an unmount.
   */
  @Test
  void unpublishAndUnstageLeaveAForeignMountAlone() {
    String proc = entry(TARGET, "proc", "proc", "rw", "0:21", "/");
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(findmnt()).thenSucceed(table(proc))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(TARGET)).thenSucceed(DIRECTORY)
        .expect(statL(MAPPER)).thenExit(1, "", MISSING);
    rejected(Status.Code.FAILED_PRECONDITION, TARGET + " has proc (proc, rw) on " + TARGET
        + " mounted, which is not the device " + DEV,
        () -> node.nodeUnpublishVolume(unpublish(LVM_VOL, TARGET)));
    String other = entry(STAGING, "/dev/sdb", "ext4", "rw", "8:16", "/");
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(other))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(STAGING)).thenSucceed(DIRECTORY)
        .expect(statL(MAPPER)).thenExit(1, "", MISSING);
    rejected(Status.Code.FAILED_PRECONDITION, "left alone",
        () -> node.nodeUnstageVolume(unstage(LVM_VOL, STAGING)));
    // Another dataset bound at the staging path, while this one is mounted at its mountpoint.
    String otherDataset = dataset(STAGING).replace("subvol-100-disk-0", "subvol-100-disk-1")
        .replace("0:52", "0:53");
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(dataset(DATASET_DIR), otherDataset));
    rejected(Status.Code.FAILED_PRECONDITION, "which is not the ZFS dataset subvol-100-disk-0",
        () -> node.nodeUnstageVolume(unstage(ZFS_VOL, STAGING)));
    runner.verifyAllConsumed();
    assertTrue(runner.commands().stream().noneMatch(c -> c.argv().get(0).equals("umount")
        || c.argv().get(0).equals("rmdir")), "nothing unmounted or removed");
  }

  /**
   * Issue 13 point 4: unpublish and unstage of an ID this driver never issued succeed when
   * nothing is at the path (they are idempotent) and refuse to touch anything that is.
   */
  @Test
  void unpublishAndUnstageOfAnIdTheDriverNeverIssued() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(findmnt()).thenSucceed(table())
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(TARGET)).thenExit(1, "", MISSING)
        .expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table());
    node.nodeUnpublishVolume(unpublish("junk\nid", TARGET));
    node.nodeUnstageVolume(unstage("other:vm-1-disk-0", STAGING));
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/dm-3", "ext4", "rw", "253:3",
            "/")));
    rejected(Status.Code.FAILED_PRECONDITION, "which this driver never issued",
        () -> node.nodeUnpublishVolume(unpublish("local-lvm:junk", TARGET)));
    runner.verifyAllConsumed();
    assertEquals(List.of(), lvm.calls);
  }

  @Test
  void unpublishAndUnstageOfWhatIsGoneSucceedAndUnstageLeavesTheStagingDirectory() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(findmnt()).thenSucceed(table())
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(TARGET)).thenExit(1, "", MISSING)
        .expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(MAPPER)).thenExit(1, "", MISSING);
    node.nodeUnpublishVolume(unpublish("gone:vm-1-disk-0", TARGET));
    node.nodeUnstageVolume(unstage(LVM_VOL, STAGING));
    runner.verifyAllConsumed();
    assertEquals(List.of(), lvm.calls, "an ordinary volume is not deactivated");
  }

  @Test
  void unstageUnmountsTheVolumeAndNeverRemovesTheStagingDirectory() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(staged()))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("umount", STAGING).thenSucceed()
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(MAPPER)).thenExit(1, "", MISSING);
    node.nodeUnstageVolume(unstage(LVM_VOL, STAGING));
    runner.verifyAllConsumed();
    assertTrue(runner.commands().stream().noneMatch(c -> c.argv().get(0).equals("rmdir")),
        "the staging directory is the CO's");
  }

  @Test
  void unstageOfABusyMountFailsAndLeavesItMounted() {
    rejected(Status.Code.INVALID_ARGUMENT, "staging_target_path is required",
        () -> node.nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(LVM_VOL)
            .build()));
    rejected(Status.Code.INVALID_ARGUMENT, "volume_id is required",
        () -> node.nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
            .setTargetPath(TARGET).build()));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(staged()))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("umount", STAGING).thenExit(32, "", "umount: " + STAGING + ": target is busy.");
    rejected(Status.Code.FAILED_PRECONDITION, "never forced or lazily unmounted",
        () -> node.nodeUnstageVolume(unstage(LVM_VOL, STAGING)));
    runner.verifyAllConsumed();
  }

  // ---- stats ----------------------------------------------------------------------------------

  @Test
  void statsReportBytesInodesAndAHealthyCondition() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
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
    runner.expect(realpath(BLOCK_TARGET)).thenSucceed(resolved(BLOCK_TARGET))
        .expect(stat(BLOCK_TARGET)).thenSucceed(DEVICE)
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
    rejected(Status.Code.INVALID_ARGUMENT, "volume_id is required",
        () -> node.nodeGetVolumeStats(stats("", TARGET)));
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenExit(1, "", MISSING);
    rejected(Status.Code.NOT_FOUND, "volume_path " + TARGET + " does not exist",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));

    lvm.sizes.clear();
    lvm.status = new PoolStatus(10L << 30, 10L << 30, 0, 4L << 30, OptionalLong.empty(),
        OptionalLong.empty(), 0, true);
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.NOT_FOUND, "does not exist and nothing is mounted",
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
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
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    stats = node.nodeGetVolumeStats(stats(LVM_VOL, TARGET));
    assertTrue(stats.getVolumeCondition().getMessage().contains(TARGET + " is not mounted"),
        stats.toString());
    assertEquals(0, stats.getUsageCount());

    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/sda1", "ext4", "rw", "8:1",
            "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(TARGET)).thenSucceed(DIRECTORY)
        .expect(statL(MAPPER)).thenExit(1, "", MISSING);
    rejected(Status.Code.NOT_FOUND, "is not at " + TARGET,
        () -> node.nodeGetVolumeStats(stats(LVM_VOL, TARGET)));

    lvm.status = new PoolStatus(0, 0, 0, 0, OptionalLong.empty(), OptionalLong.empty(), 0, false);
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
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
    assertEquals(List.of(), runner.commands());
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET));
    rejected(Status.Code.OUT_OF_RANGE, "more than capacity_range.limit_bytes",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 0, 1L << 20)));
    runner.verifyAllConsumed();
    assertEquals(List.of(), lvm.calls);
  }

  @Test
  void expandGrowsTheVolumeUnderTheLockThenTheFilesystem() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
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
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(entry(TARGET, "/dev/dm-3", "xfs", "rw", "253:3",
            "/")))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect("xfs_growfs", "-d", TARGET).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n");
    assertEquals(1L << 30, node.nodeExpandVolume(expand(LVM_VOL, TARGET, 1L << 30, 0))
        .getCapacityBytes());
    assertEquals(List.of(), lvm.calls, "the volume already had the size: no resize");

    runner.expect(realpath(BLOCK_TARGET)).thenSucceed(resolved(BLOCK_TARGET))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect("blockdev", "--getsize64", DEV).thenSucceed("3221225472\n");
    assertEquals(3L << 30, node.nodeExpandVolume(expand(LVM_VOL, BLOCK_TARGET, 3L << 30, 0)
        .toBuilder().setVolumeCapability(block(Mode.SINGLE_NODE_WRITER)).build())
        .getCapacityBytes());
    runner.verifyAllConsumed();
  }

  @Test
  void expandOfADatasetIsItsQuotaAlone() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET));
    long size = node.nodeExpandVolume(expand(ZFS_VOL, TARGET, 3L << 30, 0)).getCapacityBytes();
    assertEquals(3L << 30, size);
    assertEquals(List.of("resize subvol-100-disk-0 " + (3L << 30)), zfs.calls);
    runner.verifyAllConsumed();
  }

  @Test
  void expandOfAnUnmountedPathIsAPrecondition() {
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table());
    rejected(Status.Code.FAILED_PRECONDITION, "is not mounted",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 1L << 30, 0)));
    runner.verifyAllConsumed();
  }

  // ---- encryption (issue 18) ------------------------------------------------------------------

  /** The passphrase of the tests; a test fails if it shows up anywhere but a command's stdin. */
  private static final String KEY = "correct horse battery staple";
  private static final String MAPPER_NAME = "pvecsi-vm-100-disk-0-6204c581";
  private static final String MAPPER_DEVICE = "block special file|fd|5|0";
  private static final String LUKS_SIGNATURE = "UUID=1f0e\nVERSION=2\nTYPE=crypto_LUKS\n"
      + "USAGE=crypto\n";

  private static NodeStageVolumeRequest encryptedStage(VolumeCapability cap, String key) {
    NodeStageVolumeRequest.Builder request = stage(LVM_VOL, cap).toBuilder()
        .putVolumeContext("encryption", "luks2");
    if (key != null) {
      request.putSecrets("encryptionPassphrase", key);
    }
    return request.build();
  }

  private static List<String> luksOpen() {
    return List.of("cryptsetup", "open", "--type", "luks2", "--key-file", "-", DEV, MAPPER_NAME);
  }

  @Test
  void encryptedStageFormatsABlankDeviceOpensItAndMakesTheFilesystemInside() {
    List<java.util.logging.LogRecord> logged = captureLogs();
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect("blkid", "-p", "-o", "export", DEV).thenExit(2, "", "")
        .expect("blockdev", "--getsize64", DEV).thenSucceed("1073741824\n")
        .expect("dd", "if=" + DEV, "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
            "status=none").thenSucceed()
        .expect("cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--key-file", "-",
            DEV).thenSucceed()
        .expect(luksOpen()).thenSucceed()
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", MAPPER).thenExit(2, "", "")
        .expect("blockdev", "--getsize64", MAPPER).thenSucceed("1071644672\n")
        .expect("dd", "if=" + MAPPER, "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
            "status=none").thenSucceed()
        .expect("mkfs.ext4", "-q", "-m", "0", "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard", MAPPER).thenSucceed()
        .expect("mount", "-t", "ext4", MAPPER, STAGING).thenSucceed();
    node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER), KEY));
    runner.verifyAllConsumed();
    List<io.csi.pvestorage.exec.Command> keyed = runner.commands().stream()
        .filter(c -> c.stdin().isPresent()).toList();
    assertEquals(2, keyed.size(), "luksFormat and open read the key");
    keyed.forEach(c -> assertTrue(c.stdin().get().sameBytes(
        KEY.getBytes(java.nio.charset.StandardCharsets.UTF_8)), c.display()));
    assertKeyNowhere(logged, List.of());
  }

  @Test
  void aWrongPassphraseIsAPreconditionNamingTheSecretAndNothingIsFormattedOrOpened() {
    List<java.util.logging.LogRecord> logged = captureLogs();
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed(LUKS_SIGNATURE)
        .expect(luksOpen()).thenExit(2, "", "No key available with this passphrase.\n");
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER),
            "not the right one")));
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
    String message = e.getStatus().getDescription();
    assertTrue(message.contains("csi.storage.k8s.io/node-stage-secret-name")
        && message.contains(LVM_VOL) && message.contains("nothing was opened"), message);
    runner.verifyAllConsumed();
    assertTrue(runner.commands().stream().noneMatch(c -> c.argv().contains("luksFormat")),
        "an existing header is never formatted");
    assertKeyNowhere(logged, List.of(message), "not the right one");
  }

  @Test
  void encryptionIsRefusedOnADeviceWithAFilesystemAndAMissingSecretBeforeAnyCommand() {
    rejected(Status.Code.INVALID_ARGUMENT, "set csi.storage.k8s.io/node-stage-secret-name",
        () -> node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER),
            null)));
    rejected(Status.Code.INVALID_ARGUMENT, "must be 8 to 512 bytes",
        () -> node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER),
            "short")));
    rejected(Status.Code.INVALID_ARGUMENT, "cannot be luks2-encrypted",
        () -> node.nodeStageVolume(stage(ZFS_VOL, mount("zfs", Mode.SINGLE_NODE_WRITER))
            .toBuilder().putVolumeContext("encryption", "luks2")
            .putSecrets("encryptionPassphrase", KEY).build()));
    rejected(Status.Code.INVALID_ARGUMENT, "is not luks2, zfs-native or none",
        () -> node.nodeStageVolume(stage(LVM_VOL, mount("ext4", Mode.SINGLE_NODE_WRITER))
            .toBuilder().putVolumeContext("encryption", "rot13").build()));
    assertEquals(List.of(), runner.commands());
    assertEquals(List.of(), lvm.calls);

    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed("TYPE=ext4\nUSAGE=filesystem\n");
    rejected(Status.Code.FAILED_PRECONDITION, "not a LUKS header: it is left untouched",
        () -> node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER), KEY)));
    runner.verifyAllConsumed();
    assertTrue(runner.commands().stream().noneMatch(c -> c.program().equals("cryptsetup")));
  }

  /** A stage that fails after opening closes what it opened: nothing is left open. */
  @Test
  void aStageThatFailsAfterOpeningClosesTheMapping() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenExit(1, "", MISSING)
        .expect("blkid", "-p", "-o", "export", DEV).thenSucceed(LUKS_SIGNATURE)
        .expect(luksOpen()).thenSucceed()
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(STAGING)).thenSucceed(DIRECTORY)
        .expect("blkid", "-p", "-o", "export", MAPPER).thenSucceed("TYPE=swap\nUSAGE=other\n")
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "close", MAPPER_NAME).thenSucceed();
    rejected(Status.Code.FAILED_PRECONDITION, "holds swap",
        () -> node.nodeStageVolume(encryptedStage(mount("ext4", Mode.SINGLE_NODE_WRITER), KEY)));
    runner.verifyAllConsumed();
  }

  @Test
  void anOpenMappingIsReusedOnlyOnTheVolumesDeviceAndBlockModePublishesIt() {
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "status", MAPPER_NAME).thenSucceed("  type:    LUKS2\n"
            + "  device:  " + DEV + "\n")
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE);
    node.nodeStageVolume(encryptedStage(block(Mode.SINGLE_NODE_WRITER), KEY));
    runner.expect(realpath(BLOCK_TARGET, STAGING)).thenSucceed(resolved(BLOCK_TARGET, STAGING))
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(BLOCK_TARGET)).thenExit(1, "", MISSING)
        .expect("touch", BLOCK_TARGET).thenSucceed()
        .expect("mount", "--bind", MAPPER, BLOCK_TARGET).thenSucceed();
    node.nodePublishVolume(publish(LVM_VOL, BLOCK_TARGET, block(Mode.SINGLE_NODE_WRITER))
        .toBuilder().putVolumeContext("encryption", "luks2").build());
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "status", MAPPER_NAME).thenSucceed("  device:  /dev/sdz\n")
        .expect(statL("/dev/sdz")).thenSucceed("block special file|8|19|0")
        .expect(statL(DEV)).thenSucceed(DEVICE);
    rejected(Status.Code.FAILED_PRECONDITION, "sits on /dev/sdz",
        () -> node.nodeStageVolume(encryptedStage(block(Mode.SINGLE_NODE_WRITER), KEY)));
    runner.verifyAllConsumed();
  }

  @Test
  void unstageUnmountsTheMappingThenClosesItAndARetryClosesWhatIsLeft() {
    String staged = entry(STAGING, "/dev/mapper/" + MAPPER_NAME, "ext4", "rw", "253:5", "/");
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table(staged))
        .expect(statL(DEV)).thenSucceed(DEVICE)
        .expect(statL(STAGING)).thenSucceed(DIRECTORY)
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("umount", STAGING).thenSucceed()
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "close", MAPPER_NAME).thenExit(5, "",
            "Device " + MAPPER_NAME + " is still in use.\n");
    rejected(Status.Code.FAILED_PRECONDITION, "still in use and stays open",
        () -> node.nodeUnstageVolume(unstage(LVM_VOL, STAGING)));
    runner.expect(realpath(STAGING)).thenSucceed(resolved(STAGING))
        .expect(findmnt()).thenSucceed(table())
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "close", MAPPER_NAME).thenSucceed();
    node.nodeUnstageVolume(unstage(LVM_VOL, STAGING));
    runner.verifyAllConsumed();
  }

  @Test
  void expandOfAnOpenMappingNeedsTheExpandSecretThenGrowsLvMappingAndFilesystem() {
    List<java.util.logging.LogRecord> logged = captureLogs();
    String mounted = entry(TARGET, "/dev/mapper/" + MAPPER_NAME, "ext4", "rw", "253:5", "/");
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE);
    rejected(Status.Code.INVALID_ARGUMENT, "csi.storage.k8s.io/node-expand-secret-name",
        () -> node.nodeExpandVolume(expand(LVM_VOL, TARGET, 2L << 30, 0)));
    assertEquals(List.of(), lvm.calls, "nothing grew without the key");
    runner.expect(realpath(TARGET)).thenSucceed(resolved(TARGET))
        .expect(stat(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("cryptsetup", "resize", "--key-file", "-", MAPPER_NAME).thenSucceed()
        .expect(stat(TARGET)).thenSucceed(DIRECTORY)
        .expect(findmnt()).thenSucceed(table(mounted))
        .expect(statL(MAPPER)).thenSucceed(MAPPER_DEVICE)
        .expect("resize2fs", MAPPER).thenSucceed()
        .expect("blockdev", "--getsize64", DEV).thenSucceed("2147483648\n");
    long size = node.nodeExpandVolume(expand(LVM_VOL, TARGET, 2L << 30, 0).toBuilder()
        .putSecrets("encryptionPassphrase", KEY).build()).getCapacityBytes();
    assertEquals(2L << 30, size, "the volume's size, as the CO asked (not the mapping's)");
    assertEquals(List.of("resize vm-100-disk-0 " + (2L << 30)), lvm.calls);
    runner.verifyAllConsumed();
    assertKeyNowhere(logged, List.of());
  }

  /** Records every log record of the driver while the test runs (removed in {@link #stop}). */
  private List<java.util.logging.LogRecord> captureLogs() {
    List<java.util.logging.LogRecord> records =
        java.util.Collections.synchronizedList(new ArrayList<>());
    logCapture = new java.util.logging.Handler() {
      @Override
      public void publish(java.util.logging.LogRecord record) {
        records.add(record);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    java.util.logging.Logger.getLogger("").addHandler(logCapture);
    return records;
  }

  /**
   * Fails when a passphrase appears in any command's argv, environment or printed form, in a
   * log record (formatted, with its parameters and thrown exception), or in an error message.
   */
  private void assertKeyNowhere(List<java.util.logging.LogRecord> logged, List<String> messages,
      String... otherKeys) {
    List<String> keys = new ArrayList<>(List.of(KEY));
    keys.addAll(List.of(otherKeys));
    for (String key : keys) {
      for (io.csi.pvestorage.exec.Command c : runner.commands()) {
        assertFalse(c.argv().stream().anyMatch(a -> a.contains(key)), c.display());
        assertFalse(c.environment().values().stream().anyMatch(v -> v.contains(key)));
        assertFalse(c.toString().contains(key), "printed command");
      }
      java.util.logging.SimpleFormatter format = new java.util.logging.SimpleFormatter();
      synchronized (logged) {
        for (java.util.logging.LogRecord r : logged) {
          assertFalse(format.format(r).contains(key), format.format(r));
        }
      }
      messages.forEach(m -> assertFalse(m.contains(key), m));
    }
    assertFalse(observed.isEmpty(), "the interceptor saw the calls");
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

  private static NodeUnpublishVolumeRequest unpublish(String volumeId, String target) {
    return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target)
        .build();
  }

  private static NodeUnstageVolumeRequest unstage(String volumeId, String staging) {
    return NodeUnstageVolumeRequest.newBuilder().setVolumeId(volumeId)
        .setStagingTargetPath(staging).build();
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

  /** The path resolution every call with a path starts with: the kubelet dir, then the paths. */
  private static List<String> realpath(String... paths) {
    List<String> argv = new ArrayList<>(List.of("realpath", "-z", "-m", "--", KUBELET));
    argv.addAll(List.of(paths));
    return argv;
  }

  /** realpath's answer when nothing on the way is a link. */
  private static String resolved(String... paths) {
    StringBuilder out = new StringBuilder(KUBELET).append('\0');
    for (String path : paths) {
      out.append(path).append('\0');
    }
    return out.toString();
  }

  /** The lines of {@code dumpe2fs -h} that give an ext4's size. */
  private static String dumpe2fs(long blockSize, long blocks) {
    return "Filesystem volume name:   <none>\nBlock count:              " + blocks
        + "\nReserved block count:     0\nBlock size:               " + blockSize + "\n";
  }

  private static String dataset(String target) {
    return entry(target, "rpool/data/subvol-100-disk-0", "zfs", "rw,xattr,posixacl", "0:52", "/");
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
