package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CreateVolumeRequest;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.Snapshot;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.node.crypt.LuksDevices;
import io.csi.pvestorage.storage.VolumeId;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Issue 18 on real storage in the guest (real cryptsetup, dm-crypt, LVM-thin and OpenZFS),
 * through the driver process over gRPC as the CO calls it: an encrypted StorageClass on each of
 * the three backends. LVM-thin and zvols: LUKS2 formatted at first stage, data written, the
 * mapping closed at unstage, a restage reading the data back, a wrong passphrase refused with
 * nothing opened, online expansion through the mapping, a snapshot restored and opened with the
 * same passphrase, and block access through the opened mapping. Datasets: both encryptions a
 * dataset cannot have here are refused before anything is made.
 *
 * <p>Few cases on purpose: each LUKS2 open derives its key (argon2id, about two seconds by
 * design) in an emulated guest. They run as backend classes of {@link ConformanceIT}, on its
 * shared driver: a driver of their own cost one more start in the guest.
 */
final class EncryptionCases {

  private static final String KEY = "an encryption passphrase for the IT";
  private static final int DATA_MIB = 4;

  private EncryptionCases() {}

  /** The LUKS2 cases on one raw backend. */
  abstract static class Luks2 extends ConformanceBase {

    @Override
    Map<String, String> parameters() {
      Map<String, String> parameters = new HashMap<>(super.parameters());
      parameters.put("encryption", "luks2");
      return parameters;
    }

    /**
     * Stage, write, unstage (mapping closed), wrong passphrase (refused, nothing opened), restage
     * with the right one (data read back), expand online, snapshot and restore into a larger
     * volume that opens with the same passphrase and holds the data.
     */
    @Test
    void encryption_mountVolumeKeepsItsDataBehindThePassphrase() {
      VolumeCapability capability = mountCapability();
      Volume volume = createVolume(uniqueName("pvc"), VOLUME_BYTES, capability);
      assertEquals("luks2", volume.getVolumeContextMap().get("encryption"));
      String staging = stageWith(volume, capability, KEY);
      String mapper = mapperPath(volume);
      assertTrue(existsInGuest(mapper), "stage opens " + mapper);
      assertEquals("crypto_LUKS", signature(rawDevice(volume)), "the volume holds LUKS2");
      String written = writeFile(staging);

      unstage(volume, staging);
      assertFalse(existsInGuest(mapper), "unstage closes the mapping");
      StatusRuntimeException wrong = assertCode(Status.Code.FAILED_PRECONDITION,
          () -> node().nodeStageVolume(stageRequest(volume, staging, capability, "wrong key!")));
      assertTrue(wrong.getStatus().getDescription().contains("node-stage-secret-name")
          && wrong.getStatus().getDescription().contains(volume.getVolumeId()),
          wrong.getStatus().getDescription());
      assertFalse(wrong.getStatus().getDescription().contains("wrong key!"));
      assertFalse(existsInGuest(mapper), "a wrong passphrase opens nothing");
      assertEquals("crypto_LUKS", signature(rawDevice(volume)), "and formats nothing");

      stageWith(volume, capability, KEY);
      assertEquals(written, sha256(staging + "/data"), "the restage reads the data back");

      long before = filesystemBytes(staging);
      long grown = node().nodeExpandVolume(expandRequest(volume, staging, 2 * VOLUME_BYTES))
          .getCapacityBytes();
      assertTrue(grown >= 2 * VOLUME_BYTES, "the volume grew: " + grown);
      assertTrue(filesystemBytes(staging) > before + VOLUME_BYTES / 2, "the filesystem grew");
      assertEquals(written, sha256(staging + "/data"), "the data survives the expansion");

      Volume restored = restore(volume, capability);
      String restoredStaging = stageWith(restored, capability, KEY);
      assertEquals(written, sha256(restoredStaging + "/data"),
          "the restore opens with the same passphrase and holds the snapshot's data");
    }

    /** Block access publishes the opened mapping; its data is read back after a restage. */
    @Test
    void encryption_blockVolumePublishesTheOpenedMapping() {
      VolumeCapability capability = blockCapability();
      Volume volume = createVolume(uniqueName("pvc"), VOLUME_BYTES, capability);
      String staging = stageWith(volume, capability, KEY);
      String target = publish(volume, staging, capability);
      assertEquals(deviceNumber(mapperPath(volume)), deviceNumber(target),
          "the target is the opened mapping, not the raw device");
      String blob = driver.workDir() + "/blob-" + safe(volume.getVolumeId());
      driver.must("dd", "if=/dev/urandom", "of=" + blob, "bs=1M", "count=" + DATA_MIB,
          "status=none");
      driver.must("dd", "if=" + blob, "of=" + target, "bs=1M", "oflag=direct", "conv=fsync",
          "status=none");
      String written = sha256(blob);
      // Past the 16 MiB LUKS2 header the raw device holds the data, encrypted: cmp says 1.
      assertEquals(1, driver.run("cmp", "-s", "-n", Long.toString(DATA_MIB * MiB), blob,
          rawDevice(volume), "0", Long.toString(16 * MiB)).exitCode(),
          "the raw device does not hold the plaintext");
      node().nodeUnpublishVolume(unpublishRequest(volume, target));
      unstage(volume, staging);
      stageWith(volume, capability, KEY);
      String again = publish(volume, staging, capability);
      String back = driver.workDir() + "/back-" + safe(volume.getVolumeId());
      driver.must("dd", "if=" + again, "of=" + back, "bs=1M", "count=" + DATA_MIB,
          "iflag=direct", "status=none");
      assertEquals(written, sha256(back), "the data reads back through a new mapping");
    }

    // ---- helpers ------------------------------------------------------------------------------

    NodeStageVolumeRequest stageRequest(Volume volume, String staging,
        VolumeCapability capability, String key) {
      return stageRequest(volume, staging, capability).toBuilder()
          .putSecrets("encryptionPassphrase", key).build();
    }

    /** NodeStageVolume with the passphrase; unstaged after the case. */
    String stageWith(Volume volume, VolumeCapability capability, String key) {
      String staging = stagingDir(volume.getVolumeId());
      node().nodeStageVolume(stageRequest(volume, staging, capability, key));
      afterCase("NodeUnstageVolume " + volume.getVolumeId(), () -> unstage(volume, staging));
      return staging;
    }

    void unstage(Volume volume, String staging) {
      node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
          .setVolumeId(volume.getVolumeId()).setStagingTargetPath(staging).build());
    }

    NodeExpandVolumeRequest expandRequest(Volume volume, String path, long bytes) {
      NodeExpandVolumeRequest.Builder request = NodeExpandVolumeRequest.newBuilder()
          .setVolumeId(volume.getVolumeId()).setVolumePath(path).setStagingTargetPath(path)
          .setVolumeCapability(mountCapability()).putSecrets("encryptionPassphrase", KEY);
      request.getCapacityRangeBuilder().setRequiredBytes(bytes);
      return request.build();
    }

    Volume restore(Volume source, VolumeCapability capability) {
      Snapshot snapshot = createSnapshot(uniqueName("snapshot"), source.getVolumeId())
          .getSnapshot();
      CreateVolumeRequest.Builder request = volumeRequest(uniqueName("pvc"),
          snapshot.getSizeBytes() + VOLUME_BYTES, capability);
      request.getVolumeContentSourceBuilder().getSnapshotBuilder()
          .setSnapshotId(snapshot.getSnapshotId());
      return createVolume(request.build());
    }

    String mapperPath(Volume volume) {
      return LuksDevices.mapperPath(LuksDevices.mapperName(VolumeId.parse(volume.getVolumeId())))
          .value();
    }

    /** The volume's own device in the guest, as the plugin names it. */
    String rawDevice(Volume volume) {
      String volname = VolumeId.parse(volume.getVolumeId()).volname();
      return backend().isLvm()
          ? "/dev/" + io.csi.pvestorage.harness.VmHarness.VG + "/" + volname
          : "/dev/zvol/" + io.csi.pvestorage.harness.VmHarness.ZFS_DATASET + "/" + volname;
    }

    String signature(String device) {
      return driver.must("blkid", "-p", "-o", "value", "-s", "TYPE", device).stdoutText().strip();
    }

    String writeFile(String dir) {
      driver.must("dd", "if=/dev/urandom", "of=" + dir + "/data", "bs=1M", "count=" + DATA_MIB,
          "conv=fsync", "status=none");
      return sha256(dir + "/data");
    }

    String sha256(String path) {
      return driver.must("sha256sum", path).stdoutText().split("\\s+")[0];
    }

    String deviceNumber(String path) {
      return driver.must("stat", "-L", "-c", "%t:%T", path).stdoutText().strip();
    }

    long filesystemBytes(String path) {
      String[] f = driver.must("stat", "-f", "-c", "%S %b", path).stdoutText().strip()
          .split(" ");
      return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }
  }

  /** A dataset takes neither LUKS2 nor (in this version) native encryption: nothing is made. */
  abstract static class DatasetRefusals extends ConformanceBase {
    @Override
    Backend backend() {
      return Backend.ZFS_DATASET;
    }

    @Test
    void encryption_aDatasetRefusesWhatItCannotHaveBeforeAnythingIsMade() {
      for (String encryption : List.of("luks2", "zfs-native")) {
        String name = uniqueName("pvc");
        StatusRuntimeException e = assertCode(Status.Code.INVALID_ARGUMENT,
            () -> controller().createVolume(volumeRequest(name, VOLUME_BYTES, mountCapability())
                .putParameters("encryption", encryption).build()));
        assertTrue(e.getStatus().getDescription().contains("encryption=" + encryption)
            && e.getStatus().getDescription().contains(name), e.getStatus().getDescription());
      }
      // The pools are compared with their state before the class (checkPools): nothing made.
    }
  }
}
