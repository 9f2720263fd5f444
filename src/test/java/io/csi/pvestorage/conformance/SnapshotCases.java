package io.csi.pvestorage.conformance;

import static io.grpc.Status.Code.ABORTED;
import static io.grpc.Status.Code.ALREADY_EXISTS;
import static io.grpc.Status.Code.INVALID_ARGUMENT;
import static io.grpc.Status.Code.NOT_FOUND;
import static io.grpc.Status.Code.OUT_OF_RANGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Timestamps;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListSnapshotsResponse;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.Snapshot;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeContentSource;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Snapshots: CreateSnapshot, DeleteSnapshot, ListSnapshots, and volumes made from a snapshot
 * (restore) or from another volume (clone).
 */
abstract class SnapshotCases extends ControllerCases {

  // ---- CreateSnapshot ---------------------------------------------------------------------

  @Test
  void snapshot_createWithoutNameIsInvalid() {
    Volume volume = createMountVolume();
    assertCode(INVALID_ARGUMENT, () -> createSnapshot(CreateSnapshotRequest.newBuilder()
        .setSourceVolumeId(volume.getVolumeId()).build()));
  }

  @Test
  void snapshot_createWithoutSourceIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(uniqueName("snapshot")).build()));
  }

  @Test
  void snapshot_createOfAMissingVolumeIsNotFound() {
    assertCode(NOT_FOUND, () -> createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(uniqueName("snapshot")).setSourceVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void snapshot_createAnswersSizeReadinessTimeAndSource() {
    Volume volume = createMountVolume();
    Instant before = Instant.now();
    Snapshot snapshot = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    assertTrue(snapshot.getSnapshotId().startsWith(volume.getVolumeId() + "@"),
        "snapshot ID <storeid>:<volname>@<snapname>: " + snapshot.getSnapshotId());
    assertTrue(snapshot.getSnapshotId().getBytes(StandardCharsets.UTF_8).length <= 128);
    assertEquals(volume.getVolumeId(), snapshot.getSourceVolumeId());
    assertEquals(volume.getCapacityBytes(), snapshot.getSizeBytes(),
        "size_bytes is what a restore needs: the source's size");
    assertTrue(snapshot.getReadyToUse(), "thin snapshots are ready at once");
    assertTrue(snapshot.hasCreationTime(), "creation_time is required");
    Instant created = Instant.ofEpochSecond(snapshot.getCreationTime().getSeconds());
    // The guest's clock comes from qemu's RTC; allow for it to drift from the host's.
    assertTrue(Duration.between(before, created).abs().compareTo(Duration.ofMinutes(10)) < 0,
        "creation_time is about now: " + Timestamps.toString(snapshot.getCreationTime()));
  }

  @Test
  void snapshot_createIsIdempotent() {
    Volume volume = createMountVolume();
    String name = uniqueName("snapshot");
    Snapshot first = createSnapshot(name, volume.getVolumeId()).getSnapshot();
    Snapshot again = createSnapshot(name, volume.getVolumeId()).getSnapshot();
    assertEquals(first, again, "same name and source: the same snapshot, creation_time included");
  }

  @Test
  void snapshot_createWithSameNameAndOtherSourceIsAlreadyExists() {
    Volume a = createMountVolume();
    Volume b = createMountVolume();
    String name = uniqueName("snapshot");
    createSnapshot(name, a.getVolumeId());
    assertCode(ALREADY_EXISTS, () -> createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(name).setSourceVolumeId(b.getVolumeId()).build()));
  }

  @Test
  void snapshot_createWithMaximumLengthNames() {
    Volume volume = createMountVolume();
    String stem = uniqueName("snapshot");
    String nameA = stem + "a".repeat(128 - stem.length());
    String nameB = stem + "a".repeat(127 - stem.length()) + "b";
    Snapshot a = createSnapshot(nameA, volume.getVolumeId()).getSnapshot();
    Snapshot again = createSnapshot(nameA, volume.getVolumeId()).getSnapshot();
    Snapshot b = createSnapshot(nameB, volume.getVolumeId()).getSnapshot();
    assertEquals(a.getSnapshotId(), again.getSnapshotId());
    assertTrue(!a.getSnapshotId().equals(b.getSnapshotId()),
        "names that differ only at the end are different snapshots");
  }

  // ---- ListSnapshots ----------------------------------------------------------------------

  @Test
  void snapshot_listShowsNewSnapshots() {
    Volume volume = createMountVolume();
    Snapshot snapshot = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    ListSnapshotsResponse all = controller().listSnapshots(ListSnapshotsRequest.getDefaultInstance());
    assertEquals("", all.getNextToken());
    assertTrue(all.getEntriesList().stream().anyMatch(e -> e.getSnapshot().equals(snapshot)),
        "listed as CreateSnapshot answered it: " + all);
  }

  @Test
  void snapshot_listBySnapshotId() {
    Volume volume = createMountVolume();
    Snapshot snapshot = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    createSnapshot(uniqueName("snapshot"), volume.getVolumeId());
    List<Snapshot> listed = listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(snapshot.getSnapshotId()).build());
    assertEquals(List.of(snapshot), listed);
  }

  @Test
  void snapshot_listByAnUnknownSnapshotIdIsEmpty() {
    Volume volume = createMountVolume();
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(volume.getVolumeId() + "@nosuch").build()));
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(backend().missingSnapshotId()).build()));
  }

  @Test
  void snapshot_listBySourceVolume() {
    Volume a = createMountVolume();
    Volume b = createMountVolume();
    Snapshot a1 = createSnapshot(uniqueName("snapshot"), a.getVolumeId()).getSnapshot();
    Snapshot a2 = createSnapshot(uniqueName("snapshot"), a.getVolumeId()).getSnapshot();
    createSnapshot(uniqueName("snapshot"), b.getVolumeId());
    Set<Snapshot> listed = new HashSet<>(listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(a.getVolumeId()).build()));
    assertEquals(Set.of(a1, a2), listed, "exactly the snapshots of that volume");
  }

  @Test
  void snapshot_listByAnUnknownSourceIsEmpty() {
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(backend().missingVolumeId()).build()));
  }

  @Test
  void snapshot_listPagesCoverEverythingOnce() {
    Volume volume = createMountVolume();
    for (int i = 0; i < 3; i++) {
      createSnapshot(uniqueName("snapshot"), volume.getVolumeId());
    }
    Set<String> all = new HashSet<>();
    listSnapshots(ListSnapshotsRequest.getDefaultInstance()).forEach(s -> all.add(s.getSnapshotId()));
    assertTrue(all.size() >= 3);
    List<String> walked = walk((max, token) -> {
      ListSnapshotsResponse page = controller().listSnapshots(ListSnapshotsRequest.newBuilder()
          .setMaxEntries(max).setStartingToken(token).build());
      return new Page(page.getEntriesList().stream().map(e -> e.getSnapshot().getSnapshotId()).toList(),
          page.getNextToken());
    }, 1);
    assertEquals(walked.size(), new HashSet<>(walked).size(), "no snapshot twice: " + walked);
    assertEquals(new HashSet<>(ours(all)), new HashSet<>(ours(walked)),
        "pages of 1 cover the listing of this storage");
  }

  @Test
  void snapshot_listWithABadStartingTokenIsAborted() {
    assertCode(ABORTED, () -> controller().listSnapshots(
        ListSnapshotsRequest.newBuilder().setStartingToken("no-such-token").build()));
  }

  // ---- DeleteSnapshot ---------------------------------------------------------------------

  @Test
  void snapshot_deleteWithoutIdIsInvalid() {
    assertCode(INVALID_ARGUMENT,
        () -> controller().deleteSnapshot(DeleteSnapshotRequest.getDefaultInstance()));
  }

  @Test
  void snapshot_deleteOfAMissingSnapshotSucceeds() {
    controller().deleteSnapshot(DeleteSnapshotRequest.newBuilder()
        .setSnapshotId(backend().missingSnapshotId()).build());
  }

  @Test
  void snapshot_deleteIsIdempotentAndTheSnapshotIsGone() {
    Volume volume = createMountVolume();
    Snapshot snapshot = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    DeleteSnapshotRequest delete =
        DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshot.getSnapshotId()).build();
    controller().deleteSnapshot(delete);
    controller().deleteSnapshot(delete);
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(snapshot.getSnapshotId()).build()));
  }

  // ---- restore and clone ------------------------------------------------------------------

  @Test
  void snapshot_restoreWithTheSnapshotsSize() {
    Snapshot snapshot = snapshotOfNewVolume();
    Volume restored = createVolume(restoreRequest(uniqueName("pvc"), snapshot, snapshot.getSizeBytes()));
    assertEquals(snapshot.getSizeBytes(), restored.getCapacityBytes());
    assertEquals(snapshotSource(snapshot), restored.getContentSource());
  }

  @Test
  void snapshot_restoreWithoutCapacityIsAtLeastTheSnapshotsSize() {
    Snapshot snapshot = snapshotOfNewVolume();
    Volume restored = createVolume(restoreRequest(uniqueName("pvc"), snapshot, 0));
    assertTrue(restored.getCapacityBytes() >= snapshot.getSizeBytes(),
        "never smaller than size_bytes: " + restored.getCapacityBytes());
  }

  @Test
  void snapshot_restoreLargerThanTheSnapshot() {
    Snapshot snapshot = snapshotOfNewVolume();
    long larger = snapshot.getSizeBytes() + VOLUME_BYTES;
    Volume restored = createVolume(restoreRequest(uniqueName("pvc"), snapshot, larger));
    assertTrue(restored.getCapacityBytes() >= larger, "the larger size: " + restored.getCapacityBytes());
  }

  @Test
  void snapshot_restoreSmallerThanTheSnapshotIsOutOfRange() {
    Snapshot snapshot = snapshotOfNewVolume();
    CreateVolumeRequest.Builder request = restoreRequest(uniqueName("pvc"), snapshot,
        snapshot.getSizeBytes() / 2).toBuilder();
    // A limit below the snapshot's size: no volume can hold the data and respect the range.
    request.getCapacityRangeBuilder().setLimitBytes(snapshot.getSizeBytes() / 2);
    assertCode(OUT_OF_RANGE, () -> createVolume(request.build()));
  }

  @Test
  void snapshot_restoreIsIdempotent() {
    Snapshot snapshot = snapshotOfNewVolume();
    CreateVolumeRequest request = restoreRequest(uniqueName("pvc"), snapshot, snapshot.getSizeBytes());
    Volume first = createVolume(request);
    Volume again = createVolume(request);
    assertEquals(first, again);
  }

  @Test
  void snapshot_restoreFromAMissingSnapshotIsNotFound() {
    CreateVolumeRequest.Builder request = volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
    request.getVolumeContentSourceBuilder().getSnapshotBuilder()
        .setSnapshotId(backend().missingSnapshotId());
    assertCode(NOT_FOUND, () -> createVolume(request.build()));
  }

  @Test
  void snapshot_cloneOfAVolume() {
    Volume source = createMountVolume();
    CreateVolumeRequest.Builder request =
        volumeRequest(uniqueName("pvc"), source.getCapacityBytes(), mountCapability());
    request.getVolumeContentSourceBuilder().getVolumeBuilder().setVolumeId(source.getVolumeId());
    Volume clone = createVolume(request.build());
    assertTrue(!clone.getVolumeId().equals(source.getVolumeId()), "a new volume");
    assertEquals(source.getCapacityBytes(), clone.getCapacityBytes());
    assertEquals(source.getVolumeId(), clone.getContentSource().getVolume().getVolumeId());
  }

  @Test
  void snapshot_cloneSmallerThanTheSourceIsOutOfRange() {
    Volume source = createMountVolume();
    CreateVolumeRequest.Builder request =
        volumeRequest(uniqueName("pvc"), source.getCapacityBytes() / 2, mountCapability());
    request.getCapacityRangeBuilder().setLimitBytes(source.getCapacityBytes() / 2);
    request.getVolumeContentSourceBuilder().getVolumeBuilder().setVolumeId(source.getVolumeId());
    assertCode(OUT_OF_RANGE, () -> createVolume(request.build()));
  }

  @Test
  void snapshot_cloneOfAMissingVolumeIsNotFound() {
    CreateVolumeRequest.Builder request = volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
    request.getVolumeContentSourceBuilder().getVolumeBuilder().setVolumeId(backend().missingVolumeId());
    assertCode(NOT_FOUND, () -> createVolume(request.build()));
  }

  // ---- a deleted volume's snapshots (issue 13 point 1) ------------------------------------

  /**
   * DeleteVolume keeps the volume's VolumeSnapshots usable, since Kubernetes keeps them ready
   * to use: both snapshots of a deleted volume stay listed (by ID, by source and unfiltered,
   * with the old source_volume_id, size and time), each restores the data it was taken of, a
   * CreateVolume with the deleted volume's name makes a new, empty volume, and once the
   * snapshots and restores are deleted the pools hold what they held before.
   */
  @Test
  void snapshot_deletingAVolumeKeepsItsSnapshotsUsable() {
    List<String> poolsBefore = backendPools(driver.guest());
    String name = uniqueName("pvc");
    Volume volume = createVolume(name, VOLUME_BYTES, mountCapability());
    String first = onPublished(volume, dir -> writeRandomData(dir));
    Snapshot s1 = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    String second = onPublished(volume, dir -> writeRandomData(dir));
    Snapshot s2 = createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
    assertTrue(!first.equals(second), "two different states of the volume");

    controller().deleteVolume(deleteRequest(volume.getVolumeId()));
    assertFalse(listAllVolumes().containsKey(volume.getVolumeId()), "the volume is gone");
    for (Snapshot snapshot : List.of(s1, s2)) {
      assertEquals(List.of(snapshot), listSnapshots(ListSnapshotsRequest.newBuilder()
          .setSnapshotId(snapshot.getSnapshotId()).build()),
          "by ID, as CreateSnapshot answered it (old source_volume_id included)");
    }
    assertEquals(Set.of(s1, s2), new HashSet<>(listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(volume.getVolumeId()).build())));
    assertTrue(listSnapshots(ListSnapshotsRequest.getDefaultInstance()).containsAll(
        List.of(s1, s2)), "in the unfiltered listing");

    Volume fromFirst = createVolume(restoreRequest(uniqueName("pvc"), s1, s1.getSizeBytes()));
    Volume fromSecond = createVolume(restoreRequest(uniqueName("pvc"), s2, s2.getSizeBytes()));
    assertEquals(first, onPublished(fromFirst, dir -> sha256Of(dir + "/data")));
    assertEquals(second, onPublished(fromSecond, dir -> sha256Of(dir + "/data")));

    Volume again = createVolume(name, VOLUME_BYTES, mountCapability());
    assertEquals(volume.getVolumeId(), again.getVolumeId(), "the name is free again");
    boolean oldData = onPublished(again, dir -> existsInGuest(dir + "/data"));
    assertFalse(oldData, "a new, empty volume, not the deleted one");

    for (String snapshot : List.of(s1.getSnapshotId(), s2.getSnapshotId())) {
      controller().deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshot)
          .build());
    }
    for (Volume v : List.of(fromFirst, fromSecond, again)) {
      controller().deleteVolume(deleteRequest(v.getVolumeId()));
    }
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(volume.getVolumeId()).build()));
    assertEquals(poolsBefore, backendPools(driver.guest()),
        "nothing of the volume, its snapshots or its restores is left");
  }

  // ---- golden images (issue 17) -----------------------------------------------------------

  /**
   * A VolumeSnapshotClass with {@code base: "true"}: the snapshot is a PVE base of the volume's
   * content of that moment, listed with its source but never as a volume; ten PVCs from it hold
   * that content (sha256), one of them larger; a smaller one is OUT_OF_RANGE; the source is
   * deleted first, then the base while its clones live (gone from every listing at once, the
   * clones intact), then the clones, and the pool holds what it held before.
   */
  @Test
  void snapshot_aGoldenImageGivesTenClonesOfItsContentAndCanGoFirst() {
    List<String> poolsBefore = backendPools(driver.guest());
    Volume volume = createMountVolume();
    String content = onPublished(volume, dir -> writeRandomData(dir));
    Snapshot golden = createSnapshot(CreateSnapshotRequest.newBuilder()
        .setName(uniqueName("snapshot")).setSourceVolumeId(volume.getVolumeId())
        .putParameters("base", "true").build()).getSnapshot();
    String goldenId = golden.getSnapshotId();
    assertTrue(goldenId.matches("[a-z0-9-]+:base(vol)?-[0-9]+-disk-[0-9]+@golden"), goldenId);
    assertEquals(volume.getVolumeId(), golden.getSourceVolumeId());
    assertEquals(volume.getCapacityBytes(), golden.getSizeBytes());
    assertTrue(golden.getReadyToUse());
    String changed = onPublished(volume, dir -> writeRandomData(dir));
    assertFalse(content.equals(changed), "the source stays writable");
    assertEquals(List.of(golden), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(goldenId).build()));
    assertTrue(listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSourceVolumeId(volume.getVolumeId()).build()).contains(golden));
    // This storage's IDs only (the other pool's cases run beside), and the base itself: a ZFS
    // linked clone's ID names its base ("...:base-100-disk-0/vm-101-disk-0") and is a volume.
    assertTrue(ours(listAllVolumes().keySet()).stream()
        .noneMatch(id -> id.matches("[^:]+:base(vol)?-[0-9]+-disk-[0-9]+")), "a base is no volume");
    CreateVolumeRequest.Builder smaller = restoreRequest(uniqueName("pvc"), golden,
        golden.getSizeBytes() / 2).toBuilder();
    smaller.getCapacityRangeBuilder().setLimitBytes(golden.getSizeBytes() / 2);
    assertCode(OUT_OF_RANGE, () -> createVolume(smaller.build()));

    List<Volume> clones = new java.util.ArrayList<>();
    for (int i = 0; i < 10; i++) {
      long bytes = golden.getSizeBytes() + (i == 0 ? VOLUME_BYTES : 0);
      clones.add(createVolume(restoreRequest(uniqueName("pvc"), golden, bytes)));
    }
    assertTrue(clones.get(0).getCapacityBytes() >= golden.getSizeBytes() + VOLUME_BYTES);
    for (Volume clone : clones) {
      assertEquals(goldenId, clone.getContentSource().getSnapshot().getSnapshotId());
      assertEquals(content, onPublished(clone, dir -> sha256Of(dir + "/data")),
          clone.getVolumeId() + " holds the golden content");
    }

    controller().deleteVolume(deleteRequest(volume.getVolumeId()));
    controller().deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(goldenId)
        .build());
    assertEquals(List.of(), listSnapshots(ListSnapshotsRequest.newBuilder()
        .setSnapshotId(goldenId).build()));
    assertFalse(listSnapshots(ListSnapshotsRequest.getDefaultInstance()).contains(golden));
    assertEquals(content, onPublished(clones.get(9), dir -> sha256Of(dir + "/data")),
        "a clone outlives its base");
    for (Volume clone : clones) {
      controller().deleteVolume(deleteRequest(clone.getVolumeId()));
    }
    assertEquals(poolsBefore, backendPools(driver.guest()),
        "nothing of the source, the base or its clones is left");
  }

  // ---- helpers ----------------------------------------------------------------------------

  /**
   * Stages and publishes a mount volume, runs {@code action} on the published directory, then
   * unpublishes and unstages it again.
   */
  <T> T onPublished(Volume volume, Function<String, T> action) {
    VolumeCapability capability = mountCapability();
    String staging = stagingDir(volume.getVolumeId());
    node().nodeStageVolume(stageRequest(volume, staging, capability));
    try {
      String target = targetPath(volume.getVolumeId());
      node().nodePublishVolume(publishRequest(volume, staging, target, capability));
      try {
        return action.apply(target);
      } finally {
        node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
            .setVolumeId(volume.getVolumeId()).setTargetPath(target).build());
      }
    } finally {
      node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
          .setVolumeId(volume.getVolumeId()).setStagingTargetPath(staging).build());
    }
  }

  /** 2 MiB of random data in {@code dir/data}, flushed; its sha256. */
  String writeRandomData(String dir) {
    driver.must("dd", "if=/dev/urandom", "of=" + dir + "/data", "bs=1M", "count=2",
        "conv=fsync", "status=none");
    return sha256Of(dir + "/data");
  }

  String sha256Of(String path) {
    return driver.must("sha256sum", path).stdoutText().split("\\s+")[0];
  }

  Snapshot snapshotOfNewVolume() {
    Volume volume = createMountVolume();
    return createSnapshot(uniqueName("snapshot"), volume.getVolumeId()).getSnapshot();
  }

  static VolumeContentSource snapshotSource(Snapshot snapshot) {
    return VolumeContentSource.newBuilder()
        .setSnapshot(VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(snapshot.getSnapshotId()))
        .build();
  }

  CreateVolumeRequest restoreRequest(String name, Snapshot snapshot, long bytes) {
    return volumeRequest(name, bytes, mountCapability())
        .setVolumeContentSource(snapshotSource(snapshot))
        .build();
  }

  /** The listing without pagination. */
  List<Snapshot> listSnapshots(ListSnapshotsRequest request) {
    ListSnapshotsResponse response = controller().listSnapshots(request);
    assertEquals("", response.getNextToken(), "without max_entries everything fits one answer");
    return response.getEntriesList().stream().map(ListSnapshotsResponse.Entry::getSnapshot).toList();
  }
}
