package io.csi.pvestorage.conformance;

import static io.grpc.Status.Code.INVALID_ARGUMENT;
import static io.grpc.Status.Code.NOT_FOUND;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeExpandVolumeResponse;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGetInfoResponse;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodeGetVolumeStatsResponse;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodeServiceCapability;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.VolumeUsage;
import csi.v1.Volume;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.VmHarness;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Node: GetInfo, GetCapabilities, Stage/Unstage, Publish/Unpublish, GetVolumeStats, Expand,
 * checked both through the answers and in the guest (mount points, block devices, sizes).
 */
abstract class NodeCases extends SnapshotCases {

  @Test
  void node_getInfoNamesTheNodeAndItsTopology() {
    NodeGetInfoResponse info = node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance());
    assertEquals(GuestDriver.NODE_ID, info.getNodeId());
    assertTrue(info.getMaxVolumesPerNode() >= 0, "never negative");
    assertEquals(thisNode(), info.getAccessibleTopology(),
        "the topology key carries the node id (the plugin advertises accessibility constraints)");
  }

  @Test
  void node_capabilitiesAreTheContract() {
    Set<NodeServiceCapability.RPC.Type> types = new HashSet<>();
    for (NodeServiceCapability capability : node()
        .nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList()) {
      assertTrue(capability.hasRpc(), "every capability is an RPC capability: " + capability);
      assertTrue(types.add(capability.getRpc().getType()), "listed once: " + capability);
    }
    assertEquals(Set.of(NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME,
        NodeServiceCapability.RPC.Type.GET_VOLUME_STATS,
        NodeServiceCapability.RPC.Type.EXPAND_VOLUME,
        NodeServiceCapability.RPC.Type.VOLUME_CONDITION), types);
  }

  // ---- NodeStageVolume / NodeUnstageVolume ------------------------------------------------

  @Test
  void node_stageWithoutVolumeIdIsInvalid() {
    assertStageIsInvalid(NodeStageVolumeRequest.Builder::clearVolumeId);
  }

  @Test
  void node_stageWithoutStagingPathIsInvalid() {
    assertStageIsInvalid(NodeStageVolumeRequest.Builder::clearStagingTargetPath);
  }

  @Test
  void node_stageWithoutCapabilityIsInvalid() {
    assertStageIsInvalid(NodeStageVolumeRequest.Builder::clearVolumeCapability);
  }

  /** A new volume, and a stage request for it without one required field. */
  private void assertStageIsInvalid(UnaryOperator<NodeStageVolumeRequest.Builder> withoutField) {
    Volume volume = createMountVolume();
    NodeStageVolumeRequest.Builder request =
        stageRequest(volume, stagingDir(volume.getVolumeId()), mountCapability()).toBuilder();
    assertCode(INVALID_ARGUMENT, () -> node().nodeStageVolume(withoutField.apply(request).build()));
  }

  @Test
  void node_stageOfAMissingVolumeIsNotFound() {
    String staging = stagingDir(backend().missingVolumeId());
    assertCode(NOT_FOUND, () -> node().nodeStageVolume(NodeStageVolumeRequest.newBuilder()
        .setVolumeId(backend().missingVolumeId())
        .setStagingTargetPath(staging)
        .setVolumeCapability(mountCapability())
        .putAllVolumeContext(Map.of("storage", backend().storage(), "format", backend().format(),
            "fsType", backend().fsType()))
        .build()));
  }

  @Test
  void node_stageIsIdempotentAndMountsTheFilesystem() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    node().nodeStageVolume(stageRequest(volume, staging, mountCapability()));
    assertTrue(isMountPoint(staging), "the filesystem is mounted at the staging path");
    assertEquals(1, mountCount(staging), "staged twice, mounted once");
  }

  @Test
  void node_unstageWithoutVolumeIdIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
        .setStagingTargetPath(stagingDir(backend().missingVolumeId())).build()));
  }

  @Test
  void node_unstageWithoutStagingPathIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
        .setVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void node_unstageIsIdempotentAndUnmounts() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    NodeUnstageVolumeRequest unstage = NodeUnstageVolumeRequest.newBuilder()
        .setVolumeId(volume.getVolumeId()).setStagingTargetPath(staging).build();
    node().nodeUnstageVolume(unstage);
    node().nodeUnstageVolume(unstage);
    assertFalse(isMountPoint(staging), "nothing mounted at the staging path any more");
  }

  // ---- NodePublishVolume / NodeUnpublishVolume --------------------------------------------

  @Test
  void node_publishWithoutVolumeIdIsInvalid() {
    assertPublishIsInvalid(NodePublishVolumeRequest.Builder::clearVolumeId);
  }

  @Test
  void node_publishWithoutTargetPathIsInvalid() {
    assertPublishIsInvalid(NodePublishVolumeRequest.Builder::clearTargetPath);
  }

  @Test
  void node_publishWithoutCapabilityIsInvalid() {
    assertPublishIsInvalid(NodePublishVolumeRequest.Builder::clearVolumeCapability);
  }

  /** A staged volume, and a publish request for it without one required field. */
  private void assertPublishIsInvalid(UnaryOperator<NodePublishVolumeRequest.Builder> withoutField) {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    NodePublishVolumeRequest.Builder request =
        publishRequest(volume, staging, targetPath(volume.getVolumeId()), mountCapability()).toBuilder();
    assertCode(INVALID_ARGUMENT, () -> node().nodePublishVolume(withoutField.apply(request).build()));
  }

  @Test
  void node_publishOfAMissingVolumeIsNotFound() {
    String id = backend().missingVolumeId();
    assertCode(NOT_FOUND, () -> node().nodePublishVolume(NodePublishVolumeRequest.newBuilder()
        .setVolumeId(id)
        .setStagingTargetPath(stagingDir(id))
        .setTargetPath(targetPath(id))
        .setVolumeCapability(mountCapability())
        .putAllVolumeContext(Map.of("storage", backend().storage(), "format", backend().format(),
            "fsType", backend().fsType()))
        .build()));
  }

  @Test
  void node_publishIsIdempotentAndCreatesTheTarget() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    String target = publish(volume, staging, mountCapability());
    node().nodePublishVolume(publishRequest(volume, staging, target, mountCapability()));
    assertTrue(isMountPoint(target), "the plugin created and mounted the target path");
    assertEquals(1, mountCount(target), "published twice, mounted once");
    driver.must("touch", target + "/written-through-the-target");
    assertTrue(existsInGuest(staging + "/written-through-the-target"),
        "the target shows the staged filesystem");
  }

  @Test
  void node_publishReadOnlyRefusesWrites() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    String target = targetPath(volume.getVolumeId());
    node().nodePublishVolume(publishRequest(volume, staging, target, mountCapability()).toBuilder()
        .setReadonly(true).build());
    afterCase("NodeUnpublishVolume (read-only) " + volume.getVolumeId(), () -> node()
        .nodeUnpublishVolume(unpublishRequest(volume, target)));
    CommandResult write = driver.run("touch", target + "/must-fail");
    assertNotEquals(0, write.exitCode(), "a read-only publication refuses writes");
    assertTrue(write.stderrText().contains("Read-only"), write.stderrText());
  }

  @Test
  void node_unpublishWithoutVolumeIdIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeUnpublishVolume(NodeUnpublishVolumeRequest
        .newBuilder().setTargetPath(targetPath(backend().missingVolumeId())).build()));
  }

  @Test
  void node_unpublishWithoutTargetPathIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeUnpublishVolume(NodeUnpublishVolumeRequest
        .newBuilder().setVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void node_unpublishIsIdempotentAndRemovesTheTarget() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    String target = publish(volume, staging, mountCapability());
    node().nodeUnpublishVolume(unpublishRequest(volume, target));
    node().nodeUnpublishVolume(unpublishRequest(volume, target));
    assertFalse(existsInGuest(target), "the plugin removes the target path it created");
  }

  @Test
  void node_unpublishOfANeverPublishedTargetSucceeds() {
    Volume volume = createMountVolume();
    node().nodeUnpublishVolume(unpublishRequest(volume, targetPath(volume.getVolumeId())));
  }

  // ---- NodeGetVolumeStats -----------------------------------------------------------------

  @Test
  void node_statsWithoutVolumeIdIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeGetVolumeStats(NodeGetVolumeStatsRequest
        .newBuilder().setVolumePath(driver.workDir()).build()));
  }

  @Test
  void node_statsWithoutVolumePathIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeGetVolumeStats(NodeGetVolumeStatsRequest
        .newBuilder().setVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void node_statsOfAMissingVolumeIsNotFound() {
    assertCode(NOT_FOUND, () -> node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
        .setVolumeId(backend().missingVolumeId()).setVolumePath(driver.workDir()).build()));
  }

  @Test
  void node_statsOfAVolumeNotMountedAtThatPathIsAbnormal() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    publish(volume, staging, mountCapability());
    String elsewhere = driver.workDir() + "/not-the-volume";
    driver.must("mkdir", "-p", elsewhere);
    // The product's choice (issue 7): an existing volume whose path has lost its mount is
    // reported, not hidden: OK with an abnormal condition and no usage.
    NodeGetVolumeStatsResponse stats = node().nodeGetVolumeStats(NodeGetVolumeStatsRequest
        .newBuilder().setVolumeId(volume.getVolumeId()).setVolumePath(elsewhere).build());
    assertTrue(stats.getVolumeCondition().getAbnormal(), stats.toString());
    assertTrue(stats.getVolumeCondition().getMessage().contains("not mounted"), stats.toString());
    assertEquals(0, stats.getUsageCount(), "no usage of a filesystem that is not there");
  }

  @Test
  void node_statsOfAPathHoldingAnotherVolumeIsNotFound() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    // The guest's shared project directory: a mount point of another filesystem (9p).
    assertCode(NOT_FOUND, () -> node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
        .setVolumeId(volume.getVolumeId()).setVolumePath(VmHarness.GUEST_PROJECT).build()));
    assertTrue(!staging.isEmpty());
  }

  @Test
  void node_statsOfAPublishedFilesystem() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    String target = publish(volume, staging, mountCapability());
    NodeGetVolumeStatsResponse stats = stats(volume, target);
    VolumeUsage bytes = usage(stats, VolumeUsage.Unit.BYTES).orElseThrow(
        () -> new AssertionError("BYTES usage: " + stats));
    assertTrue(bytes.getTotal() > 0 && bytes.getTotal() <= volume.getCapacityBytes(),
        "the filesystem fits the volume: " + bytes);
    assertTrue(bytes.getAvailable() >= 0 && bytes.getUsed() >= 0
        && bytes.getAvailable() + bytes.getUsed() <= bytes.getTotal(), "consistent: " + bytes);
    VolumeUsage inodes = usage(stats, VolumeUsage.Unit.INODES).orElseThrow(
        () -> new AssertionError("INODES usage: " + stats));
    assertTrue(inodes.getTotal() > 0 && inodes.getUsed() > 0, "a filesystem has inodes: " + inodes);
    assertTrue(stats.hasVolumeCondition(), "VOLUME_CONDITION is advertised");
    assertFalse(stats.getVolumeCondition().getAbnormal(), stats.getVolumeCondition().getMessage());
  }

  // ---- NodeExpandVolume -------------------------------------------------------------------

  @Test
  void node_expandWithoutVolumeIdIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeExpandVolume(NodeExpandVolumeRequest.newBuilder()
        .setVolumePath(driver.workDir()).build()));
  }

  @Test
  void node_expandWithoutVolumePathIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> node().nodeExpandVolume(NodeExpandVolumeRequest.newBuilder()
        .setVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void node_expandOfAMissingVolumeIsNotFound() {
    NodeExpandVolumeRequest.Builder request = NodeExpandVolumeRequest.newBuilder()
        .setVolumeId(backend().missingVolumeId()).setVolumePath(driver.workDir());
    request.getCapacityRangeBuilder().setRequiredBytes(2 * VOLUME_BYTES);
    assertCode(NOT_FOUND, () -> node().nodeExpandVolume(request.build()));
  }

  @Test
  void node_expandAPublishedFilesystem() {
    Volume volume = createMountVolume();
    String staging = stage(volume, mountCapability());
    String target = publish(volume, staging, mountCapability());
    long before = usage(stats(volume, target), VolumeUsage.Unit.BYTES).orElseThrow().getTotal();
    NodeExpandVolumeResponse expanded = expand(volume, target, staging, mountCapability(),
        2 * VOLUME_BYTES);
    assertTrue(expanded.getCapacityBytes() >= 2 * VOLUME_BYTES, "at least the required size: " + expanded);
    NodeExpandVolumeResponse again = expand(volume, target, staging, mountCapability(),
        2 * VOLUME_BYTES);
    assertEquals(expanded.getCapacityBytes(), again.getCapacityBytes(), "expanding twice is a no-op");
    long after = usage(stats(volume, target), VolumeUsage.Unit.BYTES).orElseThrow().getTotal();
    assertTrue(after > before + VOLUME_BYTES / 2, "the filesystem grew: " + before + " -> " + after);
  }

  // ---- helpers ----------------------------------------------------------------------------

  /** How many mounts sit exactly on this path (a repeated publish must not stack them). */
  int mountCount(String path) {
    CommandResult result = driver.run("findmnt", "-n", "-o", "TARGET", "--mountpoint", path);
    return (int) result.stdoutText().lines().filter(l -> !l.isBlank()).count();
  }
}
