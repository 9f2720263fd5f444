package io.csi.pvestorage.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListVolumesRequest;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.Snapshot;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeContentSource;
import csi.v1.VolumeUsage;
import io.csi.pvestorage.conformance.Backend;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

/** The mutating RPC paths the crash suite injects into, and the calls they are made of. */
final class CrashPaths {

  static final long MiB = 1L << 20;
  static final long SIZE = 64 * MiB;
  static final long LARGER = 128 * MiB;

  private static final Predicate<Backend> EVERY = b -> true;
  private static final Predicate<Backend> ZFS = b -> !b.equals(Backend.LVM_THIN);

  private CrashPaths() {}

  static List<CrashPath> all() {
    return List.of(
        new CrashPath("CreateVolume empty", "CreateVolume", EVERY, s -> {
          String name = name("pvc");
          return scenario(() -> createVolume(s, name, SIZE, null),
              () -> assertListedOnce(s, volumeIdOf(s, name)));
        }),
        new CrashPath("CreateVolume from snapshot, larger", "CreateVolume", EVERY, s -> {
          Written source = unstaged(s, volumeWithData(s));
          Snapshot snapshot = snapshot(s, name("snapshot"), source.volume().getVolumeId());
          return restoreScenario(s, VolumeContentSource.newBuilder().setSnapshot(
              VolumeContentSource.SnapshotSource.newBuilder()
                  .setSnapshotId(snapshot.getSnapshotId())).build(), source.sha256());
        }),
        new CrashPath("CreateVolume PVC clone, larger", "CreateVolume", EVERY, s -> {
          Written source = unstaged(s, volumeWithData(s));
          return restoreScenario(s, VolumeContentSource.newBuilder().setVolume(
              VolumeContentSource.VolumeSource.newBuilder()
                  .setVolumeId(source.volume().getVolumeId())).build(), source.sha256());
        }),
        new CrashPath("DeleteVolume", "DeleteVolume", EVERY, s -> {
          Volume volume = createVolume(s, name("pvc"), SIZE, null);
          return scenario(() -> s.controller().deleteVolume(deleteVolume(volume)),
              () -> assertFalse(listedVolumeIds(s).contains(volume.getVolumeId()),
                  "the volume is gone"));
        }),
        new CrashPath("DeleteVolume with a snapshot", "DeleteVolume", EVERY, s -> {
          Written source = unstaged(s, volumeWithData(s));
          Snapshot snapshot = snapshot(s, name("snapshot"), source.volume().getVolumeId());
          return scenario(() -> s.controller().deleteVolume(deleteVolume(source.volume())), () -> {
            assertFalse(listedVolumeIds(s).contains(source.volume().getVolumeId()));
            Volume restored = createVolume(s, name("restore"), SIZE, VolumeContentSource
                .newBuilder().setSnapshot(VolumeContentSource.SnapshotSource.newBuilder()
                    .setSnapshotId(snapshot.getSnapshotId())).build());
            assertEquals(source.sha256(), sha256(s, stage(s, restored)),
                "the snapshot of the deleted volume restores its data");
          });
        }),
        new CrashPath("CreateSnapshot", "CreateSnapshot", EVERY, s -> {
          Written source = unstaged(s, volumeWithData(s));
          String name = name("snapshot");
          return scenario(() -> snapshot(s, name, source.volume().getVolumeId()), () ->
              assertEquals(1, s.controller().listSnapshots(ListSnapshotsRequest.newBuilder()
                  .setSourceVolumeId(source.volume().getVolumeId()).build()).getEntriesCount(),
                  "one snapshot of the volume"));
        }),
        new CrashPath("DeleteSnapshot", "DeleteSnapshot", EVERY, s -> {
          Volume volume = createVolume(s, name("pvc"), SIZE, null);
          Snapshot snapshot = snapshot(s, name("snapshot"), volume.getVolumeId());
          return scenario(() -> s.controller().deleteSnapshot(deleteSnapshot(snapshot)),
              () -> assertSnapshotGone(s, snapshot));
        }),
        new CrashPath("DeleteSnapshot with a clone", "DeleteSnapshot", ZFS, s -> {
          Written source = unstaged(s, volumeWithData(s));
          Snapshot snapshot = snapshot(s, name("snapshot"), source.volume().getVolumeId());
          Volume restored = createVolume(s, name("restore"), SIZE, VolumeContentSource
              .newBuilder().setSnapshot(VolumeContentSource.SnapshotSource.newBuilder()
                  .setSnapshotId(snapshot.getSnapshotId())).build());
          return scenario(() -> s.controller().deleteSnapshot(deleteSnapshot(snapshot)), () -> {
            assertSnapshotGone(s, snapshot);
            assertEquals(source.sha256(), sha256(s, stage(s, restored)),
                "the clone keeps its data");
          });
        }),
        new CrashPath("NodeStageVolume with mkfs", "NodeStageVolume", EVERY, s -> {
          Volume volume = createVolume(s, name("pvc"), SIZE, null);
          String staging = stagingDir(s);
          s.afterPoint("NodeUnstageVolume " + staging,
              () -> s.node().nodeUnstageVolume(unstageRequest(volume, staging)));
          return scenario(() -> s.node().nodeStageVolume(stageRequest(s, volume, staging)), () -> {
            assertMounted(s, staging);
            writeData(s, staging);
          });
        }),
        new CrashPath("NodePublishVolume", "NodePublishVolume", EVERY, s -> {
          Written written = volumeWithData(s);
          String target = target(s, written);
          return scenario(() -> s.node().nodePublishVolume(publishRequest(s, written, target)),
              () -> {
                assertMounted(s, target);
                assertEquals(written.sha256(), sha256(s, target));
              });
        }),
        new CrashPath("NodeUnpublishVolume", "NodeUnpublishVolume", EVERY, s -> {
          Written written = volumeWithData(s);
          String target = target(s, written);
          s.node().nodePublishVolume(publishRequest(s, written, target));
          return scenario(() -> s.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest
              .newBuilder().setVolumeId(written.volume().getVolumeId()).setTargetPath(target)
              .build()), () -> {
                assertFalse(exists(s, target), "the target is removed");
                assertEquals(written.sha256(), sha256(s, written.staging()));
              });
        }),
        new CrashPath("NodeUnstageVolume", "NodeUnstageVolume", EVERY, s -> {
          Written written = volumeWithData(s);
          return scenario(() -> s.node().nodeUnstageVolume(unstageRequest(written.volume(),
              written.staging())), () -> {
                assertFalse(isMounted(s, written.staging()), "unstaged");
                s.node().nodeStageVolume(stageRequest(s, written.volume(), written.staging()));
                assertEquals(written.sha256(), sha256(s, written.staging()),
                    "staged again, the data is there");
              });
        }),
        new CrashPath("NodeExpandVolume online", "NodeExpandVolume", EVERY, s -> {
          Written written = volumeWithData(s);
          String target = target(s, written);
          s.node().nodePublishVolume(publishRequest(s, written, target));
          NodeExpandVolumeRequest.Builder expand = NodeExpandVolumeRequest.newBuilder()
              .setVolumeId(written.volume().getVolumeId()).setVolumePath(target)
              .setStagingTargetPath(written.staging()).setVolumeCapability(capability(s));
          expand.getCapacityRangeBuilder().setRequiredBytes(LARGER);
          return scenario(() -> s.node().nodeExpandVolume(expand.build()), () -> {
            long total = s.node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
                    .setVolumeId(written.volume().getVolumeId()).setVolumePath(target).build())
                .getUsageList().stream().filter(u -> u.getUnit() == VolumeUsage.Unit.BYTES)
                .findFirst().orElseThrow().getTotal();
            assertTrue(total > SIZE + (LARGER - SIZE) / 2,
                "the filesystem grew towards " + LARGER + " bytes: " + total);
            assertEquals(written.sha256(), sha256(s, target));
          });
        }));
  }

  // ---- building blocks --------------------------------------------------------------------

  /** A staged mount volume with 4 MiB of random data in {@code data}, and its sha256. */
  record Written(Volume volume, String staging, String sha256) {}

  private static CrashPath.Scenario scenario(Runnable call, Runnable verify) {
    return new CrashPath.Scenario() {
      @Override
      public void call() {
        call.run();
      }

      @Override
      public void verify() {
        verify.run();
      }
    };
  }

  /** Restore or clone {@code source} into a larger volume; verify stages it and reads the data. */
  private static CrashPath.Scenario restoreScenario(CrashAtEveryStepIT s,
      VolumeContentSource source, String sha256) {
    String name = name("restore");
    AtomicReference<Volume> made = new AtomicReference<>();
    return scenario(() -> made.set(createVolume(s, name, LARGER, source)), () -> {
      Volume restored = made.get();
      assertTrue(restored.getCapacityBytes() >= LARGER, "full size: " + restored);
      assertListedOnce(s, restored.getVolumeId());
      String staging = stage(s, restored);
      assertEquals(sha256, sha256(s, staging), "the restore reads back its source's data");
    });
  }

  static String name(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  static VolumeCapability capability(CrashAtEveryStepIT s) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(s.backendOf().fsType()))
        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
            .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
        .build();
  }

  /** CreateVolume of a mount volume (from {@code source} when not null); deleted at the end. */
  static Volume createVolume(CrashAtEveryStepIT s, String name, long bytes,
      VolumeContentSource source) {
    CreateVolumeRequest.Builder request = CreateVolumeRequest.newBuilder().setName(name)
        .addVolumeCapabilities(capability(s))
        .putParameters("storage", s.backendOf().storage())
        .putParameters("fsType", s.backendOf().fsType());
    request.getCapacityRangeBuilder().setRequiredBytes(bytes);
    if (source != null) {
      request.setVolumeContentSource(source);
    }
    Volume volume = s.controller().createVolume(request.build()).getVolume();
    s.afterPoint("DeleteVolume " + volume.getVolumeId(),
        () -> s.controller().deleteVolume(deleteVolume(volume)));
    return volume;
  }

  /** CreateSnapshot; deleted at the end (before its source, which was registered earlier). */
  static Snapshot snapshot(CrashAtEveryStepIT s, String name, String sourceVolumeId) {
    Snapshot snapshot = s.controller().createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(name).setSourceVolumeId(sourceVolumeId).build()).getSnapshot();
    s.afterPoint("DeleteSnapshot " + snapshot.getSnapshotId(),
        () -> s.controller().deleteSnapshot(deleteSnapshot(snapshot)));
    return snapshot;
  }

  static DeleteVolumeRequest deleteVolume(Volume volume) {
    return DeleteVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId()).build();
  }

  static DeleteSnapshotRequest deleteSnapshot(Snapshot snapshot) {
    return DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshot.getSnapshotId()).build();
  }

  /** A staging directory as the kubelet makes it; removed at the end (once unstaged). */
  static String stagingDir(CrashAtEveryStepIT s) {
    String dir = s.stagingParent() + "/" + UUID.randomUUID().toString().substring(0, 8);
    s.must("mkdir", dir);
    s.afterPoint("rmdir " + dir, () -> s.must("rmdir", dir));
    return dir;
  }

  static NodeStageVolumeRequest stageRequest(CrashAtEveryStepIT s, Volume volume,
      String staging) {
    return NodeStageVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId())
        .setStagingTargetPath(staging).setVolumeCapability(capability(s))
        .putAllVolumeContext(volume.getVolumeContextMap()).build();
  }

  static NodeUnstageVolumeRequest unstageRequest(Volume volume, String staging) {
    return NodeUnstageVolumeRequest.newBuilder().setVolumeId(volume.getVolumeId())
        .setStagingTargetPath(staging).build();
  }

  /** NodeStageVolume into a new staging dir; unstaged at the end. */
  static String stage(CrashAtEveryStepIT s, Volume volume) {
    String staging = stagingDir(s);
    s.node().nodeStageVolume(stageRequest(s, volume, staging));
    s.afterPoint("NodeUnstageVolume " + staging,
        () -> s.node().nodeUnstageVolume(unstageRequest(volume, staging)));
    return staging;
  }

  /** A new volume, staged, with data written and synced. */
  static Written volumeWithData(CrashAtEveryStepIT s) {
    Volume volume = createVolume(s, name("pvc"), SIZE, null);
    String staging = stage(s, volume);
    return new Written(volume, staging, writeData(s, staging));
  }

  /**
   * Unstages a written volume before it is snapshotted, cloned or deleted, as Kubernetes does
   * for a pod that is gone: its data is on the device, not in a page cache.
   */
  static Written unstaged(CrashAtEveryStepIT s, Written written) {
    s.node().nodeUnstageVolume(unstageRequest(written.volume(), written.staging()));
    return written;
  }

  static String writeData(CrashAtEveryStepIT s, String dir) {
    s.must("dd", "if=/dev/urandom", "of=" + dir + "/data", "bs=1M", "count=4", "status=none",
        "conv=fsync");
    return sha256(s, dir);
  }

  static String sha256(CrashAtEveryStepIT s, String dir) {
    return s.must("sha256sum", dir + "/data").stdoutText().split("\\s+")[0];
  }

  /** A target path (not created: the driver makes it); unpublished at the end. */
  static String target(CrashAtEveryStepIT s, Written written) {
    String target = s.targetParent() + "/" + UUID.randomUUID().toString().substring(0, 8);
    s.afterPoint("NodeUnpublishVolume " + target, () -> s.node().nodeUnpublishVolume(
        NodeUnpublishVolumeRequest.newBuilder().setVolumeId(written.volume().getVolumeId())
            .setTargetPath(target).build()));
    return target;
  }

  static NodePublishVolumeRequest publishRequest(CrashAtEveryStepIT s, Written written,
      String target) {
    return NodePublishVolumeRequest.newBuilder().setVolumeId(written.volume().getVolumeId())
        .setStagingTargetPath(written.staging()).setTargetPath(target)
        .setVolumeCapability(capability(s))
        .putAllVolumeContext(written.volume().getVolumeContextMap()).build();
  }

  static boolean isMounted(CrashAtEveryStepIT s, String path) {
    return s.guest("mountpoint", "-q", path).exitCode() == 0;
  }

  static void assertMounted(CrashAtEveryStepIT s, String path) {
    assertTrue(isMounted(s, path), path + " is a mount point");
    assertEquals(1, s.must("findmnt", "-rn", "-o", "TARGET").stdoutText().lines()
        .filter(path::equals).count(), path + " is mounted once");
  }

  static boolean exists(CrashAtEveryStepIT s, String path) {
    return s.guest("test", "-e", path).exitCode() == 0;
  }

  static List<String> listedVolumeIds(CrashAtEveryStepIT s) {
    return s.controller().listVolumes(ListVolumesRequest.getDefaultInstance()).getEntriesList()
        .stream().map(e -> e.getVolume().getVolumeId()).toList();
  }

  /** The ID a CreateVolume of {@code name} answers: the retry's answer, not a guess. */
  static String volumeIdOf(CrashAtEveryStepIT s, String name) {
    return createVolume(s, name, SIZE, null).getVolumeId();
  }

  static void assertListedOnce(CrashAtEveryStepIT s, String volumeId) {
    assertEquals(1, listedVolumeIds(s).stream().filter(volumeId::equals).count(),
        volumeId + " is listed once");
  }

  static void assertSnapshotGone(CrashAtEveryStepIT s, Snapshot snapshot) {
    assertEquals(0, s.controller().listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(snapshot.getSnapshotId()).build()).getEntriesCount(),
        "the snapshot is gone");
  }
}
