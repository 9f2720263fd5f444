package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.Snapshot;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeUsage;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The whole life of a volume with real data, for mount and for block access: create, stage,
 * publish, write, stats, snapshot, restore into a larger volume and read the data back, expand
 * online, unpublish, unstage, delete. The root of the conformance suite's cases, so that a
 * family of ITs can run these alone against another deployment of the driver (the container
 * ITs run them against the image under runc).
 */
abstract class LifecycleCases extends ConformanceBase {

  private static final int DATA_MIB = 4;

  @Test
  void lifecycle_mountVolume() throws InterruptedException {
    lifecycle(mountCapability());
  }

  /**
   * Block access with this backend's StorageClass. Kubernetes ignores {@code fsType} for block
   * claims, so even the dataset class ({@code fsType: zfs}) must give a raw volume (a zvol).
   */
  @Test
  void lifecycle_blockVolume() throws InterruptedException {
    lifecycle(blockCapability());
  }

  /**
   * Create, stage, publish, write data, stats, snapshot, restore to a larger volume, read the
   * data back from the restore, expand, unpublish, unstage, delete.
   */
  private void lifecycle(VolumeCapability capability) throws InterruptedException {
    boolean block = capability.hasBlock();
    Volume volume = createVolume(uniqueName("pvc"), VOLUME_BYTES, capability);
    String staging = stage(volume, capability);
    String target = publish(volume, staging, capability);

    String written = block ? writeBlock(target) : writeFile(target);
    if (block) {
      assertEquals("raw", volume.getVolumeContextMap().get("format"), "block access needs a raw volume");
      assertTrue(driver.run("test", "-b", target).exitCode() == 0, "the target is a block device");
      assertEquals(volume.getCapacityBytes(), deviceBytes(target));
      assertEquals(volume.getCapacityBytes(), bytesUsage(volume, target).getTotal(),
          "a block volume's stats give its size");
    } else {
      awaitUsedAtLeast(volume, target, DATA_MIB * MiB);
    }
    long filesystemBefore = bytesUsage(volume, target).getTotal();

    Snapshot snapshot = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    long larger = snapshot.getSizeBytes() + VOLUME_BYTES;
    CreateVolumeRequest.Builder restoreRequest = volumeRequest(uniqueName("pvc"), larger, capability);
    restoreRequest.getVolumeContentSourceBuilder().getSnapshotBuilder()
        .setSnapshotId(snapshot.getSnapshotId());
    Volume restored = createVolume(restoreRequest.build());
    assertTrue(restored.getCapacityBytes() >= larger, "the restore has the larger size");
    String restoredStaging = stage(restored, capability);
    String restoredTarget = publish(restored, restoredStaging, capability);
    assertEquals(written, block ? readBlock(restoredTarget) : sha256(restoredTarget + "/data"),
        "the restore holds the data of the snapshot");
    if (block) {
      assertEquals(restored.getCapacityBytes(), deviceBytes(restoredTarget),
          "the restored device has the larger size");
    } else {
      // The spec lets the CO grow the filesystem of a larger restore with NodeExpandVolume.
      expand(restored, restoredTarget, restoredStaging, capability, restored.getCapacityBytes());
      long grown = bytesUsage(restored, restoredTarget).getTotal();
      assertTrue(grown > filesystemBefore, "the restore's filesystem uses the larger size: "
          + filesystemBefore + " -> " + grown);
    }

    long expandedBytes = 2 * VOLUME_BYTES;
    assertTrue(expand(volume, target, staging, capability, expandedBytes).getCapacityBytes()
        >= expandedBytes);
    if (block) {
      assertTrue(deviceBytes(target) >= expandedBytes, "the device grew online");
      assertEquals(written, readBlock(target), "the data survives the expansion");
    } else {
      assertTrue(bytesUsage(volume, target).getTotal() > filesystemBefore + VOLUME_BYTES / 2,
          "the filesystem grew online");
      assertEquals(written, sha256(target + "/data"), "the data survives the expansion");
    }

    for (Volume v : new Volume[] {restored, volume}) {
      String t = v == volume ? target : restoredTarget;
      String s = v == volume ? staging : restoredStaging;
      node().nodeUnpublishVolume(unpublishRequest(v, t));
      assertFalse(existsInGuest(t), "unpublish removes the target");
      node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(v.getVolumeId())
          .setStagingTargetPath(s).build());
      assertFalse(isMountPoint(s), "unstage unmounts");
    }
    controller().deleteVolume(deleteRequest(restored.getVolumeId()));
    controller().deleteSnapshot(DeleteSnapshotRequest.newBuilder()
        .setSnapshotId(snapshot.getSnapshotId()).build());
    controller().deleteVolume(deleteRequest(volume.getVolumeId()));
    assertFalse(listAllVolumes().containsKey(volume.getVolumeId()));
    assertFalse(listAllVolumes().containsKey(restored.getVolumeId()));
  }

  /** Random data into a file on the published filesystem; its sha256. */
  private String writeFile(String target) {
    driver.must("dd", "if=/dev/urandom", "of=" + target + "/data", "bs=1M",
        "count=" + DATA_MIB, "conv=fsync", "status=none");
    driver.must("sync", "-f", target + "/data");
    return sha256(target + "/data");
  }

  /** Random data onto the start of the published block device; its sha256. */
  private String writeBlock(String target) {
    String blob = driver.workDir() + "/blob-" + safe(target);
    driver.must("dd", "if=/dev/urandom", "of=" + blob, "bs=1M", "count=" + DATA_MIB, "status=none");
    driver.must("dd", "if=" + blob, "of=" + target, "bs=1M", "oflag=direct", "conv=fsync",
        "status=none");
    return sha256(blob);
  }

  private String readBlock(String target) {
    String back = driver.workDir() + "/back-" + safe(target);
    driver.must("dd", "if=" + target, "of=" + back, "bs=1M", "count=" + DATA_MIB, "iflag=direct",
        "status=none");
    return sha256(back);
  }

  private String sha256(String path) {
    return driver.must("sha256sum", path).stdoutText().split("\\s+")[0];
  }

  private long deviceBytes(String path) {
    return Long.parseLong(driver.must("blockdev", "--getsize64", path).stdoutText().strip());
  }

  private VolumeUsage bytesUsage(Volume volume, String path) {
    return usage(stats(volume, path), VolumeUsage.Unit.BYTES)
        .orElseThrow(() -> new AssertionError("no BYTES usage for " + path));
  }

  /** ZFS accounts written data when the transaction group commits, so used may lag a little. */
  private void awaitUsedAtLeast(Volume volume, String path, long bytes) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    long used;
    do {
      used = bytesUsage(volume, path).getUsed();
      if (used >= bytes) {
        return;
      }
      Thread.sleep(500);
    } while (System.nanoTime() < end);
    throw new AssertionError("stats show " + used + " bytes used after writing " + bytes);
  }
}
