package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateSnapshotResponse;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeExpandVolumeResponse;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodeGetVolumeStatsResponse;
import csi.v1.NodeGrpc;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import csi.v1.VolumeUsage;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What every conformance case needs: the driver process in the guest for one {@link Backend},
 * stubs with a deadline, request builders, and a record of what a case created so that it is
 * removed after the case (node state first, then volumes and snapshots, newest first) and the
 * pools end as they began. The cases themselves are in the subclasses, one CSI area each.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith({VmHarnessExtension.class, CaseTally.class})
abstract class ConformanceBase {

  /** Generous: TCG emulation makes mkfs and lvcreate take seconds. */
  static final long CALL_SECONDS = 180;
  static final long MiB = 1L << 20;
  static final long GiB = 1L << 30;
  /** The size most cases use: small, and a multiple of LVM's 4 MiB extent and ZFS blocks. */
  static final long VOLUME_BYTES = 64 * MiB;
  static final String TOPOLOGY_KEY = "pve-storage.csi.io/node";
  /**
   * The {@code @ResourceLock} key the backend classes on the guest's thin pool hold (with {@code
   * @Execution(CONCURRENT)}, and {@link GuestResources#GUEST} for reading): they run one after
   * the other, and beside the classes on the zpool ({@link #ZPOOL}), whose commands need the
   * other guest vCPU and no lock of the VG. A class holding it runs its own cases one at a time.
   */
  static final String THIN_POOL = GuestResources.THIN_POOL;
  /** As {@link #THIN_POOL}, for the classes on the guest's zpool (zvols and datasets). */
  static final String ZPOOL = GuestResources.ZPOOL;

  GuestDriver driver;
  private List<String> poolsBefore;
  private final Deque<Cleanup> cleanups = new ArrayDeque<>();

  private record Cleanup(String what, ThrowingRunnable action) {}

  @FunctionalInterface
  interface ThrowingRunnable {
    void run() throws Exception;
  }

  /** The backend the subclass runs the cases on. */
  abstract Backend backend();

  @BeforeAll
  void startDriver(VmHarness vm) throws InterruptedException {
    poolsBefore = backendPools(vm.runner());
    driver = sharedDriver().get(vm);
  }

  /**
   * The driver the cases run against, shared with the other backends' cases: the class that
   * nests them owns it and stops it after the last.
   */
  abstract SharedDriver sharedDriver();

  @AfterEach
  void cleanUp() {
    List<String> failures = new ArrayList<>();
    while (!cleanups.isEmpty()) {
      Cleanup cleanup = cleanups.pop();
      try {
        cleanup.action().run();
      } catch (Exception | AssertionError e) {
        failures.add(cleanup.what() + ": " + e);
      }
    }
    if (!failures.isEmpty()) {
      fail("cleanup after the case failed:\n  " + String.join("\n  ", failures));
    }
  }

  @AfterAll
  void checkPools(VmHarness vm) {
    assertEquals(poolsBefore, backendPools(vm.runner()),
        "the suite leaves the " + (backend().isLvm() ? "thin pool" : "zpool") + " as it found it");
  }

  /**
   * The pool of this backend only: the cases of the LVM-thin and the ZFS backends run at the
   * same time (see {@link #THIN_POOL} and {@link #ZPOOL}), so each judges only its own pool.
   */
  List<String> backendPools(io.csi.pvestorage.harness.GuestCommandRunner guest) {
    String kind = backend().isLvm() ? "lvm " : "zfs ";
    return pools(guest).stream().filter(name -> name.startsWith(kind)).toList();
  }

  /** Every LV of the VG and every dataset, zvol and snapshot under the ZFS storage. */
  static List<String> pools(io.csi.pvestorage.harness.GuestCommandRunner guest) {
    List<String> names = new ArrayList<>();
    CommandResult lvs = GuestDriver.must(guest, "lvs", "--noheadings", "-o", "lv_name", VmHarness.VG);
    lvs.stdoutText().lines().map(String::strip).filter(l -> !l.isEmpty())
        .map(l -> "lvm " + l).sorted().forEach(names::add);
    CommandResult zfs = GuestDriver.must(guest, "zfs", "list", "-H", "-o", "name", "-t", "all",
        "-r", VmHarness.ZFS_DATASET);
    zfs.stdoutText().lines().map(String::strip).filter(l -> !l.isEmpty())
        .map(l -> "zfs " + l).sorted().forEach(names::add);
    return names;
  }

  // ---- stubs ------------------------------------------------------------------------------

  IdentityGrpc.IdentityBlockingStub identity() {
    return IdentityGrpc.newBlockingStub(driver.channel()).withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
  }

  ControllerGrpc.ControllerBlockingStub controller() {
    return ControllerGrpc.newBlockingStub(driver.channel()).withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
  }

  NodeGrpc.NodeBlockingStub node() {
    return NodeGrpc.newBlockingStub(driver.channel()).withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
  }

  // ---- requests ---------------------------------------------------------------------------

  /** A unique CSI name shaped like the external-provisioner's ({@code pvc-<uuid>}). */
  String uniqueName(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  static VolumeCapability.AccessMode mode(Mode mode) {
    return VolumeCapability.AccessMode.newBuilder().setMode(mode).build();
  }

  VolumeCapability mountCapability(Mode mode) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(backend().fsType()))
        .setAccessMode(mode(mode))
        .build();
  }

  VolumeCapability mountCapability() {
    return mountCapability(Mode.SINGLE_NODE_WRITER);
  }

  static VolumeCapability blockCapability() {
    return VolumeCapability.newBuilder()
        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
        .setAccessMode(mode(Mode.SINGLE_NODE_WRITER))
        .build();
  }

  /** The backend's StorageClass parameters (the same for block and mount claims, as in Kubernetes). */
  Map<String, String> parameters() {
    return Map.of("storage", backend().storage(), "fsType", backend().fsType());
  }

  CreateVolumeRequest.Builder volumeRequest(String name, long bytes, VolumeCapability capability) {
    CreateVolumeRequest.Builder request = CreateVolumeRequest.newBuilder()
        .setName(name)
        .addVolumeCapabilities(capability)
        .putAllParameters(parameters());
    if (bytes > 0) {
      request.getCapacityRangeBuilder().setRequiredBytes(bytes);
    }
    return request;
  }

  /** CreateVolume; the volume is deleted after the case. */
  Volume createVolume(CreateVolumeRequest request) {
    Volume volume = controller().createVolume(request).getVolume();
    deleteAfterCase(volume.getVolumeId());
    return volume;
  }

  Volume createVolume(String name, long bytes, VolumeCapability capability) {
    return createVolume(volumeRequest(name, bytes, capability).build());
  }

  Volume createMountVolume() {
    return createVolume(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
  }

  void deleteAfterCase(String volumeId) {
    afterCase("DeleteVolume " + volumeId, () -> controller()
        .deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(volumeId).build()));
  }

  /** CreateSnapshot; the snapshot is deleted after the case (before its source). */
  CreateSnapshotResponse createSnapshot(CreateSnapshotRequest request) {
    CreateSnapshotResponse response = controller().createSnapshot(request);
    String id = response.getSnapshot().getSnapshotId();
    afterCase("DeleteSnapshot " + id, () -> controller()
        .deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(id).build()));
    return response;
  }

  CreateSnapshotResponse createSnapshot(String name, String sourceVolumeId) {
    return createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(name).setSourceVolumeId(sourceVolumeId).build());
  }

  /** Registers an action for after the case; the last registered runs first. */
  void afterCase(String what, ThrowingRunnable action) {
    cleanups.push(new Cleanup(what, action));
  }

  // ---- node side --------------------------------------------------------------------------

  /** A staging directory, created as the CO does before NodeStageVolume. */
  String stagingDir(String volumeId) {
    String dir = driver.workDir() + "/staging/" + safe(volumeId);
    driver.must("mkdir", "-p", dir);
    return dir;
  }

  /** A target path whose parent exists; the plugin creates the path itself (spec). */
  String targetPath(String volumeId) {
    String parent = driver.workDir() + "/target";
    driver.must("mkdir", "-p", parent);
    return parent + "/" + safe(volumeId) + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  static String safe(String id) {
    return id.replaceAll("[^A-Za-z0-9._-]", "_");
  }

  NodeStageVolumeRequest stageRequest(Volume volume, String staging, VolumeCapability capability) {
    return NodeStageVolumeRequest.newBuilder()
        .setVolumeId(volume.getVolumeId())
        .setStagingTargetPath(staging)
        .setVolumeCapability(capability)
        .putAllVolumeContext(volume.getVolumeContextMap())
        .build();
  }

  /** NodeStageVolume; unstaged after the case. */
  String stage(Volume volume, VolumeCapability capability) {
    String staging = stagingDir(volume.getVolumeId());
    node().nodeStageVolume(stageRequest(volume, staging, capability));
    afterCase("NodeUnstageVolume " + volume.getVolumeId(), () -> node().nodeUnstageVolume(
        NodeUnstageVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId())
            .setStagingTargetPath(staging).build()));
    return staging;
  }

  NodePublishVolumeRequest publishRequest(Volume volume, String staging, String target,
      VolumeCapability capability) {
    return NodePublishVolumeRequest.newBuilder()
        .setVolumeId(volume.getVolumeId())
        .setStagingTargetPath(staging)
        .setTargetPath(target)
        .setVolumeCapability(capability)
        .putAllVolumeContext(volume.getVolumeContextMap())
        .build();
  }

  /** NodePublishVolume; unpublished after the case. */
  String publish(Volume volume, String staging, VolumeCapability capability) {
    String target = targetPath(volume.getVolumeId());
    node().nodePublishVolume(publishRequest(volume, staging, target, capability));
    afterCase("NodeUnpublishVolume " + volume.getVolumeId(), () -> node().nodeUnpublishVolume(
        NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId())
            .setTargetPath(target).build()));
    return target;
  }

  boolean existsInGuest(String path) {
    return driver.run("test", "-e", path).exitCode() == 0;
  }

  // ---- requests and answers the case areas share -----------------------------------------

  static DeleteVolumeRequest deleteRequest(String volumeId) {
    return DeleteVolumeRequest.newBuilder().setVolumeId(volumeId).build();
  }

  /** The whole listing without pagination, by volume ID. */
  Map<String, Volume> listAllVolumes() {
    ListVolumesResponse response = controller().listVolumes(ListVolumesRequest.getDefaultInstance());
    assertEquals("", response.getNextToken(), "without max_entries everything fits one answer");
    Map<String, Volume> byId = new LinkedHashMap<>();
    response.getEntriesList().forEach(e -> byId.put(e.getVolume().getVolumeId(), e.getVolume()));
    return byId;
  }

  /**
   * The IDs of volumes or snapshots of this backend's storage, in their order: what a listing
   * case can judge while the other backend's cases create and delete beside it.
   */
  List<String> ours(java.util.Collection<String> ids) {
    return ids.stream().filter(backend()::owns).toList();
  }

  NodeUnpublishVolumeRequest unpublishRequest(Volume volume, String target) {
    return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId())
        .setTargetPath(target).build();
  }

  NodeGetVolumeStatsResponse stats(Volume volume, String path) {
    return node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
        .setVolumeId(volume.getVolumeId()).setVolumePath(path).build());
  }

  static Optional<VolumeUsage> usage(NodeGetVolumeStatsResponse stats, VolumeUsage.Unit unit) {
    return stats.getUsageList().stream().filter(u -> u.getUnit() == unit).findFirst();
  }

  NodeExpandVolumeResponse expand(Volume volume, String path, String staging,
      VolumeCapability capability, long bytes) {
    NodeExpandVolumeRequest.Builder request = NodeExpandVolumeRequest.newBuilder()
        .setVolumeId(volume.getVolumeId())
        .setVolumePath(path)
        .setStagingTargetPath(staging)
        .setVolumeCapability(capability);
    request.getCapacityRangeBuilder().setRequiredBytes(bytes);
    return node().nodeExpandVolume(request.build());
  }

  boolean isMountPoint(String path) {
    return driver.run("mountpoint", "-q", path).exitCode() == 0;
  }

  // ---- assertions -------------------------------------------------------------------------

  @FunctionalInterface
  interface Call {
    Object call();
  }

  /** The call fails with exactly this code; returns the error for further checks. */
  static StatusRuntimeException assertCode(Status.Code expected, Call call) {
    return assertCodeIn(List.of(expected), call);
  }

  /** The call fails with one of the codes the spec allows here. */
  static StatusRuntimeException assertCodeIn(List<Status.Code> allowed, Call call) {
    Object answer;
    try {
      answer = call.call();
    } catch (StatusRuntimeException e) {
      if (!allowed.contains(e.getStatus().getCode())) {
        fail("expected " + allowed + " but got " + e.getStatus().getCode() + ": "
            + e.getStatus().getDescription());
      }
      return e;
    }
    throw new AssertionError("expected " + allowed + " but the call succeeded: " + answer);
  }
}
