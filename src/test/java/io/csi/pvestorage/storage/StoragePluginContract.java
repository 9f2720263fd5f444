package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * What every {@link StoragePlugin} must do on real storage, whatever the backend: the
 * behavioural cases of the API's Javadoc, run by a backend's IT on a real pool (LVM-thin in
 * {@code LvmThinPluginIT}; the ZFS backend extends it the same way). A subclass says how to make
 * its plugin, how to run commands where the storage is, and how to put data into a volume and
 * read it back (a filesystem on a block device, or files in a dataset).
 *
 * <p>Each test uses owner IDs of its own ({@link #newOwner()}), and {@link #removeVolumes()}
 * frees whatever they still hold, so tests do not see each other's volumes.
 */
public abstract class StoragePluginContract {

  protected static final long MIB = 1L << 20;
  protected static final Duration TIMEOUT = Duration.ofSeconds(120);

  private static final AtomicLong NEXT_OWNER = new AtomicLong(8100);
  private final List<Long> owners = new ArrayList<>();

  /** The plugin under test, on the real pool. */
  protected abstract StoragePlugin plugin();

  /** Runs commands where the storage is (the harness guest). */
  protected abstract CommandRunner guest();

  /** The format the generic cases allocate (raw for LVM-thin). */
  protected ImageFormat format() {
    return ImageFormat.RAW;
  }

  /**
   * How far {@link PoolStatus#totalBytes()} may move when a volume is created. 0 for LVM-thin,
   * whose total is the pool LV's size. A backend whose total is derived from usage (ZFS: used
   * + available of the pool dataset, while the pool's own metadata for a new dataset is charged
   * to neither) overrides it and says why.
   */
  protected long totalBytesDrift() {
    return 0;
  }

  /** The health {@link StoragePlugin#inventory()} reports for the harness's healthy pool. */
  protected Optional<String> healthyPool() {
    return Optional.empty();
  }

  /**
   * Stores {@code content} in the volume so that {@link #readData} returns it, making a
   * filesystem first when the volume has none; leaves the volume unmounted. This default is for
   * block devices (ext4 on the volume's path); backends with other formats override it.
   */
  protected void writeData(String volname, String content) {
    plugin().activateVolume(volname, Optional.empty());
    String dev = plugin().path(volname, Optional.empty()).toString();
    CommandResult probe = guest().run(
        Command.of(TIMEOUT, "blkid", "-p", "-s", "TYPE", "-o", "value", dev));
    if (probe.exitCode() != 0) {
      ok("mkfs.ext4", "-q", dev);
    }
    String mnt = mountPoint(volname);
    ok("mkdir", "-p", mnt);
    ok("mount", dev, mnt);
    try {
      writeFile(mnt + "/payload", content);
    } finally {
      ok("umount", mnt);
    }
  }

  /** What {@link #writeData} stored in the volume (or a clone of it). */
  protected String readData(String volname) {
    plugin().activateVolume(volname, Optional.empty());
    String mnt = mountPoint(volname);
    ok("mkdir", "-p", mnt);
    ok("mount", "-o", "ro", plugin().path(volname, Optional.empty()).toString(), mnt);
    try {
      return ok("cat", mnt + "/payload").stdoutText();
    } finally {
      ok("umount", mnt);
    }
  }

  /** Writes a file in the guest and flushes it. */
  protected void writeFile(String file, String content) {
    ok("python3", "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", file, content);
    ok("sync");
  }

  /** Where {@link #writeData} mounts a volume in the guest. */
  protected static String mountPoint(String volname) {
    return "/mnt/contract-" + volname.replace('/', '_');
  }

  /** A fresh owner ID for this test; its volumes are freed after the test. */
  protected long newOwner() {
    long owner = NEXT_OWNER.getAndIncrement();
    owners.add(owner);
    return owner;
  }

  /**
   * Every object the storage holds in its pool, by name, read with the storage's own tools
   * independently of the plugin (LVs of the VG; datasets, zvols and snapshots below the pool
   * dataset): what a test compares before and after to show that nothing was left behind.
   */
  protected abstract List<String> poolObjects();

  /**
   * Whether the volume holds anything at all (a filesystem or other signature on a block
   * device; any file in a dataset). This default is for block devices.
   */
  protected boolean holdsData(String volname) {
    plugin().activateVolume(volname, Optional.empty());
    String dev = plugin().path(volname, Optional.empty()).toString();
    CommandResult probe = guest().run(Command.of(TIMEOUT, "blkid", "-p", dev));
    // blkid -p: 0 a signature was found, 2 nothing was found, anything else a probe failure
    assertTrue(probe.exitCode() == 0 || probe.exitCode() == 2,
        () -> "blkid -p " + dev + " failed: " + probe.stderrText());
    return probe.exitCode() == 0;
  }

  /**
   * Deletes what this test's owners still hold: their snapshots first (also those of volumes the
   * test already freed, which freeing keeps), then their volumes.
   */
  @AfterEach
  void removeVolumes() {
    for (SnapshotInfo snapshot : plugin().listSnapshots(Optional.empty())) {
      VolumeId volume = snapshot.id().volume();
      if (owners.contains(plugin().parseVolname(volume.volname()).owner())) {
        plugin().volumeSnapshotDelete(volume.volname(), snapshot.id().snapName());
      }
    }
    for (long owner : owners) {
      for (ImageInfo image : plugin().listImages(OptionalLong.of(owner), Optional.empty())) {
        plugin().freeImage(image.volid().volname());
      }
    }
  }

  protected CommandResult ok(String... argv) {
    CommandResult result = guest().run(Command.of(TIMEOUT, argv));
    assertEquals(0, result.exitCode(),
        () -> String.join(" ", argv) + " failed: " + result.stderrText());
    return result;
  }

  protected static StorageException fails(ErrorKind kind, Executable call) {
    StorageException e = assertThrows(StorageException.class, call);
    assertEquals(kind, e.kind(), e.describe());
    return e;
  }

  private List<String> volnames(long owner) {
    return plugin().listImages(OptionalLong.of(owner), Optional.empty()).stream()
        .map(i -> i.volid().volname()).toList();
  }

  private ImageInfo image(String volname) {
    return plugin().listImages(OptionalLong.empty(),
            Optional.of(List.of(new VolumeId(plugin().storeId(), volname)))).stream()
        .findFirst().orElseThrow(() -> new AssertionError(volname + " is not listed"));
  }

  // ---------------------------------------------------------------------------------------------

  @Test
  void allocWithAndWithoutAName() {
    long owner = newOwner();
    String named = VolumeNames.volnameFor("pvc-contract-a", owner, format());
    VolumeMetadata meta = new VolumeMetadata("pvc-contract-a", Optional.of("ns-1"),
        Optional.of("data.claim-0"), Optional.of("pvc-contract-a"));
    assertEquals(named, plugin().allocImage(owner, format(), Optional.of(named), 16 * MIB,
        Optional.of(meta)));
    String automatic = plugin().allocImage(owner, format(), Optional.empty(), 8 * MIB,
        Optional.empty());
    assertEquals((format() == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-disk-0",
        automatic);

    assertEquals(List.of(automatic, named), volnames(owner));
    ImageInfo info = image(named);
    assertEquals(Optional.of(meta), info.metadata());
    assertEquals(owner, info.owner());
    assertTrue(info.sizeBytes() >= 16 * MIB, "at least the requested size: " + info.sizeBytes());
    assertEquals(info.sizeBytes(), plugin().volumeSizeInfo(named).sizeBytes());
    assertEquals(Optional.empty(), image(automatic).metadata());
    assertTrue(plugin().volumeSizeInfo(automatic).sizeBytes() >= 8 * MIB);
  }

  @Test
  void allocationSizeForeseesTheRoundingOfTheStorage() {
    long owner = newOwner();
    for (long asked : new long[] {16 * MIB, 5 * MIB + 3 * 1024, 9 * MIB + 1}) {
      String volume = plugin().allocImage(owner, format(), Optional.empty(), asked,
          Optional.empty());
      long real = plugin().volumeSizeInfo(volume).sizeBytes();
      assertTrue(real >= asked, asked + " bytes asked, " + real + " given");
      assertEquals(OptionalLong.of(real), plugin().allocationSize(format(), asked),
          "the size foreseen for " + asked + " bytes");
    }
  }

  @Test
  void reallocOfTheSameCsiNameFindsTheVolumeByItsMetadata() {
    long owner = newOwner();
    String csiName = "pvc-idem-" + owner;
    String volname = VolumeNames.volnameFor(csiName, owner, format());
    plugin().allocImage(owner, format(), Optional.of(volname), 8 * MIB,
        Optional.of(VolumeMetadata.of(csiName)));

    // a retried CreateVolume: look the CSI name up first, in one listing
    List<ImageInfo> found = plugin().listImages(OptionalLong.empty(), Optional.empty()).stream()
        .filter(i -> i.metadata().map(m -> m.csiName().equals(csiName)).orElse(false))
        .toList();
    assertEquals(1, found.size(), found.toString());
    assertEquals(volname, found.get(0).volid().volname());
    // allocating it again is refused, never a second volume
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin().allocImage(owner, format(),
        Optional.of(volname), 8 * MIB, Optional.of(VolumeMetadata.of(csiName))));
    assertEquals(List.of(volname), volnames(owner));
  }

  @Test
  void listFiltersByOwnerAndVolumeListWhichWins() {
    long a = newOwner();
    long b = newOwner();
    String a0 = plugin().allocImage(a, format(), Optional.empty(), 4 * MIB, Optional.empty());
    String a1 = plugin().allocImage(a, format(), Optional.empty(), 4 * MIB, Optional.empty());
    String b0 = plugin().allocImage(b, format(), Optional.empty(), 4 * MIB, Optional.empty());
    assertEquals(List.of(a0, a1), volnames(a));
    assertEquals(List.of(b0), volnames(b));

    List<VolumeId> wanted = List.of(new VolumeId(plugin().storeId(), b0),
        new VolumeId(plugin().storeId(), a1));
    assertEquals(List.of(a1, b0), plugin().listImages(OptionalLong.of(a), Optional.of(wanted))
        .stream().map(i -> i.volid().volname()).toList());
    List<String> all = plugin().listImages(OptionalLong.empty(), Optional.empty()).stream()
        .map(i -> i.volid().volname()).toList();
    assertTrue(all.containsAll(List.of(a0, a1, b0)), all.toString());
  }

  @Test
  void cloneOfASnapshotHoldsTheDataOfThatMoment() {
    long owner = newOwner();
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 32 * MIB,
        Optional.empty());
    writeData(volume, "before the snapshot");
    plugin().volumeSnapshot(volume, "snap1", Optional.of(VolumeMetadata.of("snapshot-contract-1")));
    writeData(volume, "after the snapshot");

    List<SnapshotInfo> snapshots = plugin().listSnapshots(Optional.of(volume));
    assertEquals(1, snapshots.size(), snapshots.toString());
    SnapshotInfo snap = snapshots.get(0);
    assertEquals(new SnapshotId(new VolumeId(plugin().storeId(), volume), "snap1"), snap.id());
    assertEquals(plugin().volumeSizeInfo(volume).sizeBytes(), snap.sizeBytes());
    assertEquals(Optional.of(VolumeMetadata.of("snapshot-contract-1")), snap.metadata());
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin().volumeSnapshot(volume, "snap1", Optional.empty()));

    long cloneOwner = newOwner();
    String clone = plugin().cloneImage(volume, cloneOwner, Optional.of("snap1"), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-restored")));
    assertEquals("before the snapshot", readData(clone));
    assertEquals("after the snapshot", readData(volume));
    assertEquals(Optional.of(VolumeMetadata.of("pvc-restored")), image(clone).metadata());
  }

  @Test
  void baseAndCloneOfTheBase() {
    long owner = newOwner();
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 32 * MIB,
        Optional.empty());
    writeData(volume, "golden image");
    String base = plugin().createBase(volume);
    assertTrue(plugin().parseVolname(base).isBase(), base);
    assertEquals(List.of(base), volnames(owner));
    fails(ErrorKind.PRECONDITION, () -> plugin().createBase(base));

    long cloneOwner = newOwner();
    String clone = plugin().cloneImage(base, cloneOwner, Optional.empty(), Optional.empty(),
        Optional.empty());
    assertEquals("golden image", readData(clone));
    writeData(clone, "changed in the clone");
    assertEquals("changed in the clone", readData(clone));
  }

  /**
   * Golden images (issue 17): the base holds the source's content of that moment while the
   * source stays a writable volume; linked clones of it hold that content; the source, the base
   * and the clones can be deleted in any order (source first, then the base while its clones
   * live), and at the end the pool holds exactly what it held before.
   */
  @Test
  void goldenImageHoldsThatMomentAndGoesInAnyOrder() {
    List<String> before = poolObjects();
    long owner = newOwner();
    String csiName = "pvc-golden-" + owner;
    String volume = plugin().allocImage(owner, format(),
        Optional.of(VolumeNames.volnameFor(csiName, owner, format())), 32 * MIB,
        Optional.of(VolumeMetadata.of(csiName)));
    writeData(volume, "golden content");
    VolumeMetadata name = VolumeMetadata.of("snapshot-golden-" + owner);
    SnapshotInfo golden = plugin().goldenImageOwn(volume, name);
    String base = golden.id().volume().volname();
    assertEquals((format() == ImageFormat.SUBVOL ? "basevol-" : "base-") + owner + "-disk-0",
        base);
    assertEquals(SnapshotInfo.GOLDEN, golden.id().snapName());
    assertEquals(new VolumeId(plugin().storeId(), volume), golden.sourceVolume());
    assertEquals(plugin().volumeSizeInfo(volume).sizeBytes(), golden.sizeBytes());
    assertEquals(Optional.of(name), golden.metadata());
    assertTrue(plugin().listGoldenImages().contains(golden), plugin().listGoldenImages()
        .toString());
    assertEquals(golden, plugin().goldenImageOwn(volume, name), "a retry answers the same base");
    fails(ErrorKind.PRECONDITION, () -> plugin().goldenImageOwn(base,
        VolumeMetadata.of("snapshot-of-a-base-" + owner)));
    writeData(volume, "changed after");

    long cloneOwner = newOwner();
    String first = plugin().cloneImage(base, cloneOwner, Optional.empty(), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-golden-1-" + owner)));
    String second = plugin().cloneImage(base, cloneOwner, Optional.empty(), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-golden-2-" + owner)));
    assertEquals("golden content", readData(first));
    assertEquals("golden content", readData(second));
    assertEquals("changed after", readData(volume), "the source stays writable and its own");

    plugin().freeOwnImage(volume);
    assertEquals(List.of(golden), plugin().listGoldenImages().stream()
        .filter(g -> g.id().equals(golden.id())).toList(), "the base outlives its source");
    plugin().freeOwnImage(base);
    assertTrue(plugin().listGoldenImages().stream().noneMatch(g -> g.id().equals(golden.id())),
        "gone from the listing at once");
    writeData(first, "the clone is writable");
    assertEquals("golden content", readData(second), "the clones outlive their base");
    plugin().freeOwnImage(first);
    plugin().freeOwnImage(second);
    assertEquals(before, poolObjects(), "nothing of the source, base or clones is left");
  }

  @Test
  void cloneWithoutASnapshotNeedsABase() {
    long owner = newOwner();
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 4 * MIB,
        Optional.empty());
    fails(ErrorKind.PRECONDITION, () -> plugin().cloneImage(volume, owner, Optional.empty(),
        Optional.empty(), Optional.empty()));
    fails(ErrorKind.NOT_FOUND, () -> plugin().cloneImage(volume, owner, Optional.of("nosuch"),
        Optional.empty(), Optional.empty()));
  }

  @Test
  void resizeGrowsKeepsEqualAndRefusesShrinking() {
    long owner = newOwner();
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 16 * MIB,
        Optional.empty());
    long before = plugin().volumeSizeInfo(volume).sizeBytes();

    long grown = plugin().volumeResize(volume, 48 * MIB);
    assertTrue(grown >= 48 * MIB, "grown to " + grown);
    assertEquals(grown, plugin().volumeSizeInfo(volume).sizeBytes());

    assertEquals(grown, plugin().volumeResize(volume, grown), "equal: a no-op");
    assertEquals(grown, plugin().volumeResize(volume, 48 * MIB), "a retried grow succeeds");
    fails(ErrorKind.OUT_OF_RANGE, () -> plugin().volumeResize(volume, before));
    assertEquals(grown, plugin().volumeSizeInfo(volume).sizeBytes(), "never shrunk");
    fails(ErrorKind.NOT_FOUND, () -> plugin().volumeResize(
        (format() == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-nosuch", 48 * MIB));
  }

  /** A new 8 MiB volume of {@code owner} with one snapshot. */
  private String volumeWithSnapshot(long owner, String snapshot) {
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 8 * MIB,
        Optional.empty());
    plugin().volumeSnapshot(volume, snapshot, Optional.empty());
    return volume;
  }

  /**
   * Deleting a volume never takes its CSI snapshots with it (Kubernetes keeps the VolumeSnapshots
   * ReadyToUse): they stay listed under the volume ID they were taken of, restorable and
   * deletable; the volume's name is free at once for a new, independent volume; and once the
   * snapshots and the volumes restored from them are deleted, the pool holds exactly what it
   * held before.
   */
  @Test
  void freeKeepsTheSnapshotsUsableAndTheNameFree() {
    List<String> before = poolObjects();
    long owner = newOwner();
    VolumeMetadata meta = VolumeMetadata.of("pvc-contract-keep");
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 32 * MIB,
        Optional.of(meta));
    writeData(volume, "first");
    plugin().volumeSnapshot(volume, "s1", Optional.of(VolumeMetadata.of("snapshot-keep-1")));
    writeData(volume, "second");
    plugin().volumeSnapshot(volume, "s2", Optional.of(VolumeMetadata.of("snapshot-keep-2")));
    List<SnapshotInfo> taken = plugin().listSnapshots(Optional.of(volume));
    assertEquals(2, taken.size(), taken.toString());

    plugin().freeImage(volume);
    plugin().freeImage(volume); // gone is success
    assertEquals(List.of(), volnames(owner));
    fails(ErrorKind.NOT_FOUND, () -> plugin().volumeSizeInfo(volume));
    assertEquals(taken, plugin().listSnapshots(Optional.of(volume)),
        "the snapshots, their sizes and CSI names outlive the volume");
    assertTrue(plugin().listSnapshots(Optional.empty()).containsAll(taken));

    long cloneOwner = newOwner();
    String first = plugin().cloneImage(volume, cloneOwner, Optional.of("s1"), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-contract-from-s1")));
    assertEquals("first", readData(first));

    // The CSI name and the volume name are free again: a new volume, empty, not the old one.
    String again = plugin().allocImage(owner, format(), Optional.of(volume), 32 * MIB,
        Optional.of(meta));
    assertEquals(volume, again);
    assertFalse(holdsData(again), "a new volume of a deleted one's name starts empty");
    plugin().freeImage(again);
    assertEquals(List.of(), volnames(owner));

    String second = plugin().cloneImage(volume, cloneOwner, Optional.of("s2"), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-contract-from-s2")));
    assertEquals("second", readData(second));
    for (SnapshotInfo snapshot : taken) {
      plugin().volumeSnapshotDelete(volume, snapshot.id().snapName());
      plugin().volumeSnapshotDelete(volume, snapshot.id().snapName());
    }
    assertEquals(List.of(), plugin().listSnapshots(Optional.of(volume)));
    assertEquals("first", readData(first), "a restore outlives the snapshot it came from");
    plugin().freeImage(first);
    plugin().freeImage(second);
    assertEquals(before, poolObjects(), "nothing of the volume, its snapshots or restores is left");
  }

  /**
   * CreateSnapshot's, DeleteSnapshot's and DeleteVolume's plugin calls (issue 16): the
   * ownership checks are the backend's, from the listing each works from. A volume and a
   * snapshot without a CSI name are refused and stay as they were; the driver's own are
   * snapshotted (a retry answers the same snapshot) and deleted, and deleting again is success.
   */
  @Test
  void ownCallsRefuseWhatTheDriverDidNotMakeAndWorkOnWhatItDid() {
    long owner = newOwner();
    String byHand = plugin().allocImage(owner, format(), Optional.empty(), 8 * MIB,
        Optional.empty());
    plugin().volumeSnapshot(byHand, "s0", Optional.empty());
    fails(ErrorKind.PRECONDITION, () -> plugin().snapshotOwn(byHand, "s1",
        VolumeMetadata.of("snapshot-hand-" + owner)));
    fails(ErrorKind.PRECONDITION, () -> plugin().freeOwnImage(byHand));
    fails(ErrorKind.PRECONDITION, () -> plugin().deleteOwnSnapshot(byHand, "s0"));
    assertTrue(volnames(owner).contains(byHand), "the volume stays");
    assertEquals(List.of("s0"), plugin().listSnapshots(Optional.of(byHand)).stream()
        .map(s -> s.id().snapName()).toList(), "the snapshot stays, no other was taken");

    String own = plugin().allocImage(owner, format(), Optional.empty(), 8 * MIB,
        Optional.of(VolumeMetadata.of("pvc-contract-own-" + owner)));
    VolumeMetadata snapshotName = VolumeMetadata.of("snapshot-own-" + owner);
    SnapshotInfo taken = plugin().snapshotOwn(own, "s1", snapshotName);
    assertEquals(plugin().listSnapshots(Optional.of(own)), List.of(taken),
        "answered as listed: ID, size, time and CSI name");
    assertEquals(taken, plugin().snapshotOwn(own, "s2", snapshotName), "a retry");
    fails(ErrorKind.NOT_FOUND, () -> plugin().snapshotOwn(
        VolumeNames.volnameFor("pvc-contract-none", owner, format()), "s1",
        VolumeMetadata.of("snapshot-none-" + owner)));
    plugin().deleteOwnSnapshot(own, "s1");
    plugin().deleteOwnSnapshot(own, "s1");
    assertEquals(List.of(), plugin().listSnapshots(Optional.of(own)));
    plugin().freeOwnImage(own);
    plugin().freeOwnImage(own);
    assertEquals(List.of(byHand), volnames(owner));
  }

  @Test
  void snapshotDeleteIsIdempotent() {
    long owner = newOwner();
    String volume = volumeWithSnapshot(owner, "s1");
    plugin().volumeSnapshotDelete(volume, "s1");
    plugin().volumeSnapshotDelete(volume, "s1");
    assertEquals(List.of(), plugin().listSnapshots(Optional.of(volume)));
    assertEquals(List.of(volume), volnames(owner), "the volume stays");
  }

  @Test
  void statusCountsNewVolumes() {
    PoolStatus before = plugin().status();
    long owner = newOwner();
    String volume = plugin().allocImage(owner, format(), Optional.empty(), 64 * MIB,
        Optional.empty());
    PoolStatus after = plugin().status();
    long size = plugin().volumeSizeInfo(volume).sizeBytes();
    assertTrue(Math.abs(before.totalBytes() - after.totalBytes()) <= totalBytesDrift(),
        "total moved from " + before.totalBytes() + " to " + after.totalBytes());
    assertEquals(before.provisionedBytes() + size, after.provisionedBytes());
    assertTrue(after.allocatableBytes() <= before.allocatableBytes());
    assertTrue(after.active());
    assertFalse(after.totalBytes() <= 0);
  }

  @Test
  void inventoryAgreesWithStatusAndTheListings() {
    volumeWithSnapshot(newOwner(), "s1");
    PoolInventory inventory = plugin().inventory();
    assertEquals(plugin().status().provisionedBytes(), inventory.status().provisionedBytes());
    assertEquals(plugin().listImages(OptionalLong.empty(), Optional.empty()).size(),
        inventory.volumes());
    assertEquals(plugin().listSnapshots(Optional.empty()).size(), inventory.snapshots());
    assertTrue(inventory.snapshots() >= 1);
    assertEquals(healthyPool(), inventory.health());
  }
}
