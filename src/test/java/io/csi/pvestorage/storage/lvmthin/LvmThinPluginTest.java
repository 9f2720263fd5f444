package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolInventory;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SizeInfo;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.Volname;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every method of {@link LvmThinPlugin} against a scripted runner: the exact argv it sends, in
 * order, answered with output recorded from lvm2 2.03.16 (fixtures {@code plugin-*}). The
 * recorded pool holds: vm-400-disk-0 (1 GiB, tagged, snapshot snap_vm-400-disk-0_before-upgrade),
 * vm-400-disk-1 (8 MiB, b64 name), vm-401-disk-0 (clone of the snapshot), base-402-disk-0 and its
 * clone vm-403-disk-0, and vm-404-disk-0 (inactive).
 */
class LvmThinPluginTest {

  private static final String V = "2.03.16";
  private static final long GIB = 1L << 30;
  private static final long MIB = 1L << 20;
  private static final List<String> LVS = LvmCommands.lvs("pve").argv();
  private static final VolumeMetadata CLAIM = new VolumeMetadata("pvc-1", Optional.of("ns"),
      Optional.of("data"), Optional.of("pvc-1"));
  private static final List<String> CLAIM_TAGS = List.of("--addtag", "pve-storage.csi.io/name=pvc-1",
      "--addtag", "pve-storage.csi.io/pvc-namespace=ns", "--addtag",
      "pve-storage.csi.io/pvc-name=data", "--addtag", "pve-storage.csi.io/pv-name=pvc-1");

  private final FakeCommandRunner lvm = new FakeCommandRunner();
  private final List<Duration> sleeps = new ArrayList<>();
  private LvmThinPlugin plugin = plugin(CapacityPolicy.DEFAULT, "data");

  private LvmThinPlugin plugin(CapacityPolicy policy, String pool) {
    return new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve", pool,
        new CommonOptions(Set.of(), false, Set.of("images", "rootdir"), 0, policy)),
        lvm, sleeps::add);
  }

  @AfterEach
  void everyScriptedCommandRan() {
    lvm.verifyAllConsumed();
  }

  /** Scripts a command answered with a recorded fixture (its own argv, or the given one). */
  private void replay(String fixture) {
    Fixture f = Fixture.load("lvm", V, fixture);
    lvm.expect(f.argv()).thenExit(f.exitCode(), f.stdoutText(), f.stderrText());
  }

  private void replay(List<String> argv, String fixture) {
    Fixture f = Fixture.load("lvm", V, fixture);
    lvm.expect(argv).thenExit(f.exitCode(), f.stdoutText(), f.stderrText());
  }

  private void listing() {
    replay("plugin-lvs-volumes");
  }

  private static List<String> argv(Command command) {
    return command.argv();
  }

  private static List<String> plus(List<String> argv, List<String> more) {
    List<String> all = new ArrayList<>(argv);
    all.addAll(more);
    return all;
  }

  private static StorageException fails(ErrorKind kind, Executable call) {
    StorageException e = assertThrows(StorageException.class, call);
    assertEquals(kind, e.kind(), e.describe());
    return e;
  }

  // ---- parseVolname, path: pure ----------------------------------------------------------------

  @Test
  void parseVolnameAsPve() {
    assertEquals(new Volname("vm-100-disk-0", 100, Optional.empty(), OptionalLong.empty(), false,
        ImageFormat.RAW), plugin.parseVolname("vm-100-disk-0"));
    assertTrue(plugin.parseVolname("base-7-pvc-abc").isBase());
    assertEquals(100, plugin.parseVolname("vm-100-cloudinit").owner());
    assertTrue(lvm.commands().isEmpty());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "base-100-disk-0/vm-101-disk-0", "snap_vm-100-disk-0_s1",
      "subvol-100-disk-0", "vm-100-", "vm-x-disk-0", "vm-100-disk-0-", "-vm-100-disk-0",
      "vm-100-a b", "vm-99999999999999999999-disk-0"})
  void invalidVolnamesNeverReachLvm(String name) {
    fails(ErrorKind.INVALID, () -> plugin.parseVolname(name));
    fails(ErrorKind.INVALID, () -> plugin.freeImage(name));
    fails(ErrorKind.INVALID, () -> plugin.volumeSizeInfo(name));
    fails(ErrorKind.INVALID, () -> plugin.path(name, Optional.empty()));
    assertTrue(lvm.commands().isEmpty());
  }

  @Test
  void tooLongNamesAreInvalid() {
    fails(ErrorKind.INVALID, () -> plugin.parseVolname("vm-1-" + "x".repeat(123)));
    String longest = "vm-1-" + "x".repeat(122);
    assertEquals(127, longest.length());
    plugin.parseVolname(longest);
    fails(ErrorKind.INVALID, () -> plugin.volumeSnapshotDelete(longest, "s1"));
    assertTrue(lvm.commands().isEmpty());
  }

  @Test
  void pathsOfVolumesAndSnapshots() {
    assertEquals(Path.of("/dev/pve/vm-400-disk-0"), plugin.path("vm-400-disk-0", Optional.empty()));
    assertEquals(Path.of("/dev/pve/snap_vm-400-disk-0_before-upgrade"),
        plugin.path("vm-400-disk-0", Optional.of("before-upgrade")));
    fails(ErrorKind.INVALID, () -> plugin.path("vm-400-disk-0", Optional.of("../x")));
    assertTrue(lvm.commands().isEmpty());
  }

  @Test
  void identity() {
    assertEquals("local-lvm", plugin.storeId());
    assertEquals("lvmthin", plugin.type());
    assertEquals(List.of(ImageFormat.RAW), plugin.formats());
  }

  // ---- listImages ----------------------------------------------------------------------------

  @Test
  void listImagesKeepsThinVolumesOfThePoolWithMetadata() {
    listing();
    List<ImageInfo> images = plugin.listImages(OptionalLong.empty(), Optional.empty());
    assertEquals(List.of("local-lvm:base-402-disk-0", "local-lvm:vm-400-disk-0",
        "local-lvm:vm-400-disk-1", "local-lvm:vm-401-disk-0", "local-lvm:vm-403-disk-0",
        "local-lvm:vm-404-disk-0"), images.stream().map(i -> i.volid().toString()).toList());

    ImageInfo first = images.get(1);
    assertEquals(new ImageInfo(new VolumeId("local-lvm", "vm-400-disk-0"), ImageFormat.RAW, GIB,
        400, Optional.of(Instant.ofEpochSecond(1795546575L)), Optional.empty(),
        Optional.of(new VolumeMetadata("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a",
            Optional.of("team-a"), Optional.of("data.db-0"),
            Optional.of("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a"))), true), first);
    assertEquals("import, from \"vm 7\"", images.get(2).metadata().orElseThrow().csiName());
    assertEquals(Optional.empty(), images.get(0).metadata(), "made without metadata");
    assertFalse(images.get(5).active(), "vm-404-disk-0 is inactive");
    assertEquals(1, lvm.commands().size(), "one lvs call");
  }

  @Test
  void listImagesByOwner() {
    listing();
    assertEquals(List.of("vm-400-disk-0", "vm-400-disk-1"),
        plugin.listImages(OptionalLong.of(400), Optional.empty()).stream()
            .map(i -> i.volid().volname()).toList());
  }

  @Test
  void volumeListWinsOverOwner() {
    listing();
    List<VolumeId> wanted = List.of(VolumeId.parse("local-lvm:vm-403-disk-0"),
        VolumeId.parse("local-lvm:base-402-disk-0"), VolumeId.parse("other:vm-400-disk-0"),
        VolumeId.parse("local-lvm:vm-999-disk-0"));
    assertEquals(List.of("base-402-disk-0", "vm-403-disk-0"),
        plugin.listImages(OptionalLong.of(400), Optional.of(wanted)).stream()
            .map(i -> i.volid().volname()).toList());
  }

  @Test
  void listImagesOfAnotherPoolIsEmptyAndAnEmptyPoolListsNothing() {
    plugin = plugin(CapacityPolicy.DEFAULT, "other");
    listing();
    assertEquals(List.of(), plugin.listImages(OptionalLong.empty(), Optional.empty()));
    replay("plugin-lvs-empty-pool");
    assertEquals(List.of(), plugin.listImages(OptionalLong.empty(), Optional.empty()));
  }

  @Test
  void listingAMissingVgIsNotFoundWithLvmsWords() {
    replay(LVS, "plugin-lvs-missing-vg");
    StorageException e = fails(ErrorKind.NOT_FOUND,
        () -> plugin.listImages(OptionalLong.empty(), Optional.empty()));
    assertTrue(e.stderr().contains("Volume group \"nosuchvg\" not found"), e.stderr());
  }

  @Test
  void aRunnerTimeoutPropagatesAsUnavailable() {
    lvm.expect(LVS).thenThrow(new StorageException(ErrorKind.UNAVAILABLE, "lvs timed out"));
    fails(ErrorKind.UNAVAILABLE, () -> plugin.status());
  }

  // ---- allocImage ----------------------------------------------------------------------------

  @Test
  void allocWithNameTagsInTheSameLvcreate() {
    listing();
    lvm.expect(plus(List.of("lvcreate", "-aly", "-V", "1048576k", "--name", "vm-400-pvc-1",
        "--thinpool", "pve/data"), CLAIM_TAGS)).thenSucceed();
    replay(argv(LvmCommands.disableAutoactivation("pve", "vm-400-pvc-1")),
        "plugin-lvchange-setautoactivation");
    assertEquals("vm-400-pvc-1", plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("vm-400-pvc-1"), GIB, Optional.of(CLAIM)));
  }

  @Test
  void aCsiNameThatAVolumeAlreadyCarriesIsRefusedBeforeLvcreate() {
    listing();
    StorageException e = fails(ErrorKind.ALREADY_EXISTS, () -> plugin.allocImage(400,
        ImageFormat.RAW, Optional.of("vm-400-another"), GIB,
        Optional.of(VolumeMetadata.of("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a"))));
    assertTrue(e.getMessage().contains("'vm-400-disk-0'"), e.getMessage());
    listing();
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin.cloneImage("vm-400-disk-0", 400,
        Optional.of("before-upgrade"), Optional.of("vm-400-copy"),
        Optional.of(VolumeMetadata.of("pvc-restored-1"))));
  }

  @Test
  void aSnapshotsCsiNameDoesNotBlockAVolumeOfTheSameName() {
    listing();
    lvm.expect("lvcreate", "-aly", "-V", "1048576k", "--name", "vm-400-same",
        "--thinpool", "pve/data", "--addtag",
        "pve-storage.csi.io/name=snapshot-7d1c9f0e-2b3a-4c5d-8e6f-0a1b2c3d4e5f").thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-400-same"))).thenSucceed();
    assertEquals("vm-400-same", plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("vm-400-same"), GIB,
        Optional.of(VolumeMetadata.of("snapshot-7d1c9f0e-2b3a-4c5d-8e6f-0a1b2c3d4e5f"))));
  }

  @Test
  void allocWithoutNameTakesTheNextFreeNumberOverTheWholeVg() {
    listing();
    lvm.expect("lvcreate", "-aly", "-V", "5k", "--name", "vm-400-disk-2", "--thinpool", "pve/data")
        .thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-400-disk-2"))).thenSucceed();
    assertEquals("vm-400-disk-2",
        plugin.allocImage(400, ImageFormat.RAW, Optional.empty(), 4097, Optional.empty()),
        "disk-0 and disk-1 are taken; bytes round up to whole KiB");

    listing();
    lvm.expect("lvcreate", "-aly", "-V", "1k", "--name", "vm-402-disk-1", "--thinpool", "pve/data")
        .thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-402-disk-1"))).thenSucceed();
    assertEquals("vm-402-disk-1",
        plugin.allocImage(402, ImageFormat.RAW, Optional.empty(), 1, Optional.empty()),
        "base-402-disk-0 takes number 0");
  }

  @Test
  void allocOfAnExistingNameIsAlreadyExistsBeforeLvcreate() {
    listing();
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("vm-400-disk-0"), GIB, Optional.empty()));
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void allocRaceWithAnotherCreatorMapsLvcreatesAnswer() {
    replay("plugin-lvs-empty-pool");
    replay("plugin-lvcreate-existing");
    StorageException e = fails(ErrorKind.ALREADY_EXISTS, () -> plugin.allocImage(400,
        ImageFormat.RAW, Optional.of("vm-400-disk-0"), GIB, Optional.empty()));
    assertTrue(e.describe().contains("already exists in volume group \"pve\""), e.describe());
  }

  @Test
  void allocInAFullPoolIsExhaustedWithLvmsMessage() {
    replay("plugin-lvs-empty-pool");
    replay(List.of("lvcreate", "-aly", "-V", "65536k", "--name", "vm-300-disk-0", "--thinpool",
        "pve/data"), "lvcreate-in-full-pool");
    StorageException e = fails(ErrorKind.EXHAUSTED, () -> plugin.allocImage(300, ImageFormat.RAW,
        Optional.empty(), 64 * MIB, Optional.empty()));
    assertTrue(e.stderr().contains("reached threshold"), e.stderr());
  }

  @Test
  void allocBeyondTheCapacityPolicyIsRefusedBeforeLvcreate() {
    // 4 GiB pool, 3430940672 bytes provisioned: 864026624 allocatable without overcommit
    plugin = plugin(new CapacityPolicy(1.0, 90, 80), "data");
    listing();
    StorageException e = fails(ErrorKind.EXHAUSTED, () -> plugin.allocImage(400, ImageFormat.RAW,
        Optional.empty(), GIB, Optional.empty()));
    assertTrue(e.getMessage().contains("864026624 bytes are allocatable"), e.getMessage());
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void allocInAMissingPoolIsNotFound() {
    plugin = plugin(CapacityPolicy.DEFAULT, "nosuchpool");
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.allocImage(400, ImageFormat.RAW, Optional.empty(),
        GIB, Optional.empty()));
  }

  @Test
  void autoactivationFailureIsOnlyWarnedAbout() {
    replay("plugin-lvs-empty-pool");
    lvm.expect("lvcreate", "-aly", "-V", "1024k", "--name", "vm-1-disk-0", "--thinpool", "pve/data")
        .thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-1-disk-0")))
        .thenExit(3, "", "  Invalid argument for --setautoactivation: n");
    assertEquals("vm-1-disk-0",
        plugin.allocImage(1, ImageFormat.RAW, Optional.empty(), MIB, Optional.empty()));
  }

  @Test
  void allocValidatesBeforeAnyCommand() {
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.SUBVOL, Optional.empty(),
        GIB, Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("vm-401-disk-0"), GIB, Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("base-400-disk-0"), GIB, Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW,
        Optional.of("vm-400-a,b"), GIB, Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW, Optional.empty(), 0,
        Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW, Optional.empty(), -1,
        Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(-1, ImageFormat.RAW, Optional.empty(), GIB,
        Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.allocImage(400, ImageFormat.RAW, Optional.empty(), GIB,
        Optional.of(VolumeMetadata.of(""))));
    assertTrue(lvm.commands().isEmpty());
  }

  @Test
  void theLargestSizeDoesNotOverflow() {
    listing();
    fails(ErrorKind.OUT_OF_RANGE, () -> plugin.allocImage(400, ImageFormat.RAW, Optional.empty(),
        Long.MAX_VALUE, Optional.empty()));
  }

  // ---- freeImage -----------------------------------------------------------------------------

  @Test
  void freeKeepsASnapshotWithACsiName() {
    listing();
    lvm.expect(argv(LvmCommands.remove("pve", "vm-400-disk-0"))).thenSucceed();
    plugin.freeImage("vm-400-disk-0"); // snap_vm-400-disk-0_before-upgrade is a VolumeSnapshot
    assertTrue(sleeps.isEmpty());
  }

  /**
   * The recorded pool (fixture {@code plugin-lvs-keep-before}): vm-410-pvc-keep with the CSI
   * snapshot s1 and the snapshot "before" without a CSI name; vm-412-src (a driver volume) with
   * the snapshot a PVC clone left behind; the guest disk vm-100-disk-9 with a snapshot that
   * merely has a clone snapshot's name. Freeing vm-410-pvc-keep removes its snapshot without a
   * CSI name first (as PVE), then the volume, then the clone's leftover; s1 and the guest disk's
   * snapshot stay.
   */
  @Test
  void freeRemovesTheSnapshotsWithoutACsiNameAndTheLeftoversOfClones() {
    replay("plugin-lvs-keep-before");
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-410-pvc-keep_before"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "vm-410-pvc-keep"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-412-src_clone-of-vm-412-pvc-clone")))
        .thenSucceed();
    plugin.freeImage("vm-410-pvc-keep");
  }

  @Test
  void aLeftoverThatCannotBeRemovedDoesNotFailTheDelete() {
    replay("plugin-lvs-keep-deleted");
    List<String> leftover = argv(LvmCommands.remove("pve",
        "snap_vm-412-src_clone-of-vm-412-pvc-clone"));
    lvm.expect(leftover).thenExit(5, "", "  Internal error: something odd.");
    plugin.freeImage("vm-410-pvc-keep");
    assertTrue(sleeps.isEmpty(), "not an in-use failure: no retries");
  }

  /**
   * After the delete (fixture {@code plugin-lvs-keep-deleted}, recorded with the volume gone:
   * LVM then reports the snapshot without an origin): the CSI snapshot is listed under the old
   * volume ID with its size, time and CSI name, can be activated, restored and deleted; the
   * volume itself is gone from the images.
   */
  @Test
  void theCsiSnapshotOfADeletedVolumeStaysUsable() {
    replay("plugin-lvs-keep-deleted");
    assertEquals(List.of(new SnapshotInfo(SnapshotId.parse("local-lvm:vm-410-pvc-keep@s1"),
        64 * MIB, Instant.ofEpochSecond(1796637080L), Optional.of(VolumeMetadata.of(
            "snapshot-keep")))), plugin.listSnapshots(Optional.of("vm-410-pvc-keep")));
    replay("plugin-lvs-keep-deleted");
    assertTrue(plugin.listSnapshots(Optional.empty()).stream()
        .anyMatch(snap -> snap.id().toString().equals("local-lvm:vm-410-pvc-keep@s1")));
    replay("plugin-lvs-keep-deleted");
    assertEquals(List.of("vm-100-disk-9", "vm-412-src"), plugin.listImages(OptionalLong.empty(),
        Optional.empty()).stream().map(i -> i.volid().volname()).toList());
    replay("plugin-lvs-keep-deleted");
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeSizeInfo("vm-410-pvc-keep"));

    replay("plugin-lvs-keep-deleted");
    lvm.expect(argv(LvmCommands.activate("pve", "snap_vm-410-pvc-keep_s1"))).thenSucceed();
    plugin.activateVolume("vm-410-pvc-keep", Optional.of("s1"));
    replay("plugin-lvs-keep-deleted");
    lvm.expect(plus(List.of("lvcreate", "-n", "vm-420-restore", "-prw", "-kn", "-s",
        "pve/snap_vm-410-pvc-keep_s1"), CLAIM_TAGS)).thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-420-restore"))).thenSucceed();
    assertEquals("vm-420-restore", plugin.cloneImage("vm-410-pvc-keep", 420, Optional.of("s1"),
        Optional.of("vm-420-restore"), Optional.of(CLAIM)));

    replay("plugin-lvs-keep-deleted");
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-410-pvc-keep_s1"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-412-src_clone-of-vm-412-pvc-clone")))
        .thenSucceed();
    plugin.volumeSnapshotDelete("vm-410-pvc-keep", "s1");
  }

  /**
   * A new volume of the deleted one's name (fixture {@code plugin-lvs-keep-again}) is a new
   * volume; the old snapshot is listed beside it under the same volume ID, and freeing the new
   * volume keeps it too.
   */
  @Test
  void aNewVolumeOfTheSameNameListsTheOldSnapshotAndFreeingItKeepsIt() {
    replay("plugin-lvs-keep-again");
    assertEquals(List.of("local-lvm:vm-410-pvc-keep@s1"),
        plugin.listSnapshots(Optional.of("vm-410-pvc-keep")).stream()
            .map(snap -> snap.id().toString()).toList());
    replay("plugin-lvs-keep-again");
    lvm.expect(argv(LvmCommands.remove("pve", "vm-410-pvc-keep"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-412-src_clone-of-vm-412-pvc-clone")))
        .thenSucceed();
    plugin.freeImage("vm-410-pvc-keep");
  }

  /**
   * DeleteVolume's free (issue 16): the CSI name is read from the one {@code lvs} the removal
   * works from, so a driver volume costs one listing and its removes (PVE's free_image: the same
   * listing and removes), where the lookup before the lock cost a second {@code lvs}.
   */
  @Test
  void freeOwnImageOfADriverVolumeListsOnceAndRemovesAsFreeImage() {
    replay("plugin-lvs-keep-before");
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-410-pvc-keep_before"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "vm-410-pvc-keep"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-412-src_clone-of-vm-412-pvc-clone")))
        .thenSucceed();
    plugin.freeOwnImage("vm-410-pvc-keep");
    assertEquals(1, lvm.commands().stream().filter(c -> c.argv().equals(LVS)).count());
  }

  @Test
  void freeOwnImageRefusesAGuestDiskAfterTheListingAloneAndRemovesNothing() {
    replay("plugin-lvs-keep-before");
    StorageException e = fails(ErrorKind.PRECONDITION,
        () -> plugin.freeOwnImage("vm-100-disk-9"));
    assertTrue(e.getMessage().contains("local-lvm:vm-100-disk-9 was not created by this driver"),
        e.getMessage());
    assertEquals(1, lvm.commands().size(), "neither the disk nor its snapshot is removed");
  }

  /** Neither a missing volume nor an LV of that name in another pool is one of this storage's. */
  @Test
  void freeOwnImageOfWhatIsNotAVolumeOfThisStorageRemovesNothing() {
    listing();
    plugin.freeOwnImage("vm-499-disk-0");
    plugin = plugin(CapacityPolicy.DEFAULT, "other");
    listing();
    plugin.freeOwnImage("vm-400-disk-0");
    assertEquals(List.of(LVS, LVS), lvm.commands().stream().map(Command::argv).toList());
  }

  /**
   * DeleteSnapshot (issue 16): the snapshot LV's CSI name is read from the {@code lvs} its
   * delete works from: one listing, then the removes (PVE: the lvremove alone).
   */
  @Test
  void deleteOwnSnapshotListsOnceThenRemoves() {
    replay("plugin-lvs-keep-before");
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-410-pvc-keep_s1"))).thenSucceed();
    lvm.expect(argv(LvmCommands.remove("pve", "snap_vm-412-src_clone-of-vm-412-pvc-clone")))
        .thenSucceed();
    plugin.deleteOwnSnapshot("vm-410-pvc-keep", "s1");
    assertEquals(1, lvm.commands().stream().filter(c -> c.argv().equals(LVS)).count());
  }

  @Test
  void deleteOwnSnapshotRefusesASnapshotWithoutACsiNameAfterTheListingAlone() {
    replay("plugin-lvs-keep-before");
    StorageException e = fails(ErrorKind.PRECONDITION,
        () -> plugin.deleteOwnSnapshot("vm-410-pvc-keep", "before"));
    assertTrue(e.getMessage().contains("local-lvm:vm-410-pvc-keep@before was not taken"),
        e.getMessage());
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void deleteOwnSnapshotOfASnapshotThatIsGoneRemovesNothing() {
    replay("plugin-lvs-keep-before");
    plugin.deleteOwnSnapshot("vm-410-pvc-keep", "nosuch");
    assertEquals(List.of(LVS), lvm.commands().stream().map(Command::argv).toList());
  }

  /**
   * CreateSnapshot (issue 16): one {@code lvs} answers the retry, the source's ownership and that
   * the snapshot LV is free; the new LV alone is read back. PVE's volume_snapshot is the
   * lvcreate alone; the lookups before the lock and the listing after it took five commands.
   */
  @Test
  void snapshotOwnListsOnceTakesTheSnapshotAndReadsTheNewLvAlone() {
    replay("plugin-lvs-keep-before");
    lvm.expect("lvcreate", "-n", "snap_vm-410-pvc-keep_s2", "-pr", "-s", "pve/vm-410-pvc-keep",
        "--addtag", "pve-storage.csi.io/name=snapshot-2").thenSucceed();
    lvm.expect(argv(LvmCommands.lvsOne("pve", "snap_vm-410-pvc-keep_s2"))).thenSucceed(
        "{\"report\": [{\"lv\": [{\"vg_name\":\"pve\", \"vg_extent_size\":\"4194304\", "
            + "\"lv_name\":\"snap_vm-410-pvc-keep_s2\", \"lv_size\":\"67108864\", "
            + "\"lv_attr\":\"Vri---tz-k\", \"pool_lv\":\"data\", \"origin\":\"vm-410-pvc-keep\", "
            + "\"data_percent\":\"\", \"metadata_percent\":\"\", \"lv_metadata_size\":\"\", "
            + "\"lv_tags\":\"pve-storage.csi.io/name=snapshot-2\", \"lv_time\":\"1796637100\"}]}]}");
    assertEquals(new SnapshotInfo(SnapshotId.parse("local-lvm:vm-410-pvc-keep@s2"), 64 * MIB,
            Instant.ofEpochSecond(1796637100L), Optional.of(VolumeMetadata.of("snapshot-2"))),
        plugin.snapshotOwn("vm-410-pvc-keep", "s2", VolumeMetadata.of("snapshot-2")));
    assertEquals(3, lvm.commands().size());
  }

  @Test
  void snapshotOwnAnswersARetryFromTheListingAlone() {
    replay("plugin-lvs-keep-before");
    assertEquals(SnapshotId.parse("local-lvm:vm-410-pvc-keep@s1"),
        plugin.snapshotOwn("vm-410-pvc-keep", "s9", VolumeMetadata.of("snapshot-keep")).id());
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void snapshotOwnRefusesAGuestDiskAndAMissingVolumeAfterTheListingAlone() {
    replay("plugin-lvs-keep-before");
    StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.snapshotOwn("vm-100-disk-9",
        "s1", VolumeMetadata.of("snapshot-1")));
    assertTrue(e.getMessage().contains("not snapshotted"), e.getMessage());
    replay("plugin-lvs-keep-before");
    fails(ErrorKind.NOT_FOUND, () -> plugin.snapshotOwn("vm-499-disk-0", "s1",
        VolumeMetadata.of("snapshot-1")));
    assertEquals(List.of(LVS, LVS), lvm.commands().stream().map(Command::argv).toList());
  }

  @Test
  void freeOfAMissingVolumeIsSuccessWithoutLvremove() {
    listing();
    plugin.freeImage("vm-499-disk-0");
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void freeRefusesAnLvOfTheSameNameThatIsNotAThinVolumeOfThePool() {
    plugin = plugin(CapacityPolicy.DEFAULT, "other");
    listing();
    StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.freeImage("vm-400-disk-0"));
    assertTrue(e.getMessage().contains("not a thin LV of pool 'other'"), e.getMessage());
    assertEquals(1, lvm.commands().size(), "nothing removed, not even the snapshot");
  }

  @Test
  void freeWhenTheLvVanishesBetweenListingAndRemoveIsSuccess() {
    listing();
    replay(argv(LvmCommands.remove("pve", "vm-404-disk-0")), "plugin-lvremove-missing");
    plugin.freeImage("vm-404-disk-0");
  }

  @Test
  void freeRetriesWhileTheLvIsBusy() {
    listing();
    List<String> remove = argv(LvmCommands.remove("pve", "vm-404-disk-0"));
    replay(remove, "plugin-lvremove-open");
    replay(remove, "plugin-lvremove-open");
    lvm.expect(remove).thenSucceed();
    plugin.freeImage("vm-404-disk-0");
    assertEquals(List.of(Duration.ofMillis(500), Duration.ofMillis(500)), sleeps);
  }

  @Test
  void freeOfAVolumeThatStaysInUseIsPrecondition() {
    listing();
    List<String> remove = argv(LvmCommands.remove("pve", "vm-401-disk-0"));
    replay(remove, "plugin-lvremove-open");
    replay(remove, "plugin-lvremove-open");
    replay(remove, "plugin-lvremove-open");
    StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.freeImage("vm-401-disk-0"));
    assertTrue(e.stderr().contains("contains a filesystem in use"), e.stderr());
    assertEquals(2, sleeps.size());
  }

  // ---- cloneImage ----------------------------------------------------------------------------

  @Test
  void cloneFromASnapshot() {
    listing();
    lvm.expect(plus(List.of("lvcreate", "-n", "vm-405-disk-0", "-prw", "-kn", "-s",
        "pve/snap_vm-400-disk-0_before-upgrade"), CLAIM_TAGS)).thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-405-disk-0"))).thenSucceed();
    assertEquals("vm-405-disk-0", plugin.cloneImage("vm-400-disk-0", 405,
        Optional.of("before-upgrade"), Optional.empty(), Optional.of(CLAIM)));
  }

  @Test
  void cloneOfABaseWithAGivenName() {
    listing();
    lvm.expect("lvcreate", "-n", "vm-406-restore", "-prw", "-kn", "-s", "pve/base-402-disk-0")
        .thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-406-restore"))).thenSucceed();
    assertEquals("vm-406-restore", plugin.cloneImage("base-402-disk-0", 406, Optional.empty(),
        Optional.of("vm-406-restore"), Optional.empty()));
  }

  @Test
  void cloneFailures() {
    fails(ErrorKind.PRECONDITION, () -> plugin.cloneImage("vm-400-disk-0", 405, Optional.empty(),
        Optional.empty(), Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.cloneImage("vm-400-disk-0", 405, Optional.of("A b"),
        Optional.empty(), Optional.empty()));
    assertTrue(lvm.commands().isEmpty(), "validated before any command");

    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.cloneImage("vm-400-disk-0", 405, Optional.of("nope"),
        Optional.empty(), Optional.empty()));
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.cloneImage("base-499-disk-0", 405, Optional.empty(),
        Optional.empty(), Optional.empty()));
    listing();
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin.cloneImage("base-402-disk-0", 404,
        Optional.empty(), Optional.of("vm-404-disk-0"), Optional.empty()));
  }

  @Test
  void cloneBeyondTheCapacityPolicyIsRefused() {
    plugin = plugin(new CapacityPolicy(1.0, 90, 80), "data");
    listing();
    fails(ErrorKind.EXHAUSTED, () -> plugin.cloneImage("vm-400-disk-0", 405,
        Optional.of("before-upgrade"), Optional.empty(), Optional.empty()));
    assertEquals(1, lvm.commands().size());
  }

  // ---- createBase ----------------------------------------------------------------------------

  @Test
  void createBaseRenamesThenMakesReadOnlyThenDeactivates() {
    listing();
    lvm.expect(argv(LvmCommands.rename("pve", "vm-404-disk-0", "base-404-disk-0"))).thenSucceed();
    replay(argv(LvmCommands.makeReadOnlySkipped("pve", "base-404-disk-0")),
        "plugin-lvchange-readonly-skip");
    replay(argv(LvmCommands.deactivate("pve", "base-404-disk-0")), "plugin-lvchange-deactivate");
    assertEquals("base-404-disk-0", plugin.createBase("vm-404-disk-0"));
  }

  @Test
  void createBaseRefusesAVolumeWithASnapshotWhoseNameHasAHyphen() {
    listing();
    StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.createBase("vm-400-disk-0"));
    assertTrue(e.getMessage().contains("snap_vm-400-disk-0_before-upgrade"), e.getMessage());
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void createBaseFailures() {
    fails(ErrorKind.PRECONDITION, () -> plugin.createBase("base-402-disk-0"));
    assertTrue(lvm.commands().isEmpty());
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.createBase("vm-499-disk-0"));
    listing();
    replay(argv(LvmCommands.rename("pve", "vm-404-disk-0", "base-404-disk-0")),
        "plugin-lvrename-existing");
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin.createBase("vm-404-disk-0"));
  }

  // ---- snapshots -----------------------------------------------------------------------------

  @Test
  void snapshotTaggedInTheSameLvcreate() {
    listing();
    lvm.expect("lvcreate", "-n", "snap_vm-400-disk-1_s1", "-pr", "-s", "pve/vm-400-disk-1",
        "--addtag", "pve-storage.csi.io/name=snapshot-1").thenSucceed();
    plugin.volumeSnapshot("vm-400-disk-1", "s1", Optional.of(VolumeMetadata.of("snapshot-1")));
  }

  @Test
  void snapshotFailures() {
    fails(ErrorKind.INVALID, () -> plugin.volumeSnapshot("vm-400-disk-1", "1abc", Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.volumeSnapshot("vm-400-disk-1", "a", Optional.empty()));
    fails(ErrorKind.INVALID, () -> plugin.volumeSnapshot("vm-400-disk-1", "x".repeat(41),
        Optional.empty()));
    assertTrue(lvm.commands().isEmpty());
    listing();
    fails(ErrorKind.ALREADY_EXISTS, () -> plugin.volumeSnapshot("vm-400-disk-0", "before-upgrade",
        Optional.empty()));
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeSnapshot("vm-499-disk-0", "s1", Optional.empty()));
    listing();
    fails(ErrorKind.PRECONDITION, () -> plugin.volumeSnapshot("base-402-disk-0", "s1",
        Optional.empty()));
    // removed by someone else between our listing and lvcreate: LVM's answer is NOT_FOUND
    listing();
    replay(argv(LvmCommands.createSnapshot("pve", "vm-404-disk-0", "snap_vm-404-disk-0_s1",
        List.of())), "plugin-lvcreate-snapshot-missing-origin");
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeSnapshot("vm-404-disk-0", "s1", Optional.empty()));
  }

  @Test
  void snapshotDeleteIsIdempotent() {
    listing();
    replay("plugin-lvremove");
    plugin.volumeSnapshotDelete("vm-400-disk-0", "before-upgrade");
    listing();
    plugin.volumeSnapshotDelete("vm-400-disk-0", "gone");
    assertEquals(3, lvm.commands().size(), "not listed: nothing to remove");
    // removed by someone else between the listing and lvremove
    listing();
    replay(argv(LvmCommands.remove("pve", "snap_vm-400-disk-0_before-upgrade")),
        "plugin-lvremove-missing");
    plugin.volumeSnapshotDelete("vm-400-disk-0", "before-upgrade");
  }

  @Test
  void snapshotDeleteRefusesAnLvOfThatNameOutsideThePool() {
    plugin = plugin(CapacityPolicy.DEFAULT, "other");
    listing();
    fails(ErrorKind.PRECONDITION,
        () -> plugin.volumeSnapshotDelete("vm-400-disk-0", "before-upgrade"));
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void snapshotDeleteOfABusySnapshotRetriesThenFails() {
    listing();
    List<String> remove = argv(LvmCommands.remove("pve", "snap_vm-400-disk-0_before-upgrade"));
    replay(remove, "plugin-lvremove-open");
    replay(remove, "plugin-lvremove-open");
    replay(remove, "plugin-lvremove-open");
    fails(ErrorKind.PRECONDITION,
        () -> plugin.volumeSnapshotDelete("vm-400-disk-0", "before-upgrade"));
    assertEquals(2, sleeps.size());
  }

  @Test
  void listSnapshotsFromTheSameListing() {
    listing();
    List<SnapshotInfo> all = plugin.listSnapshots(Optional.empty());
    assertEquals(1, all.size());
    SnapshotInfo snap = all.get(0);
    assertEquals("local-lvm:vm-400-disk-0@before-upgrade", snap.id().toString());
    assertEquals(GIB, snap.sizeBytes());
    assertEquals(Instant.ofEpochSecond(1795546581L), snap.ctime());
    assertEquals(Optional.of(VolumeMetadata.of("snapshot-7d1c9f0e-2b3a-4c5d-8e6f-0a1b2c3d4e5f")),
        snap.metadata());

    listing();
    assertEquals(all, plugin.listSnapshots(Optional.of("vm-400-disk-0")));
    listing();
    assertEquals(List.of(), plugin.listSnapshots(Optional.of("vm-401-disk-0")));
  }

  @Test
  void snapshotNamesWithoutOrWithAForeignOriginAreSplitSafely() {
    // the recorded listing, edited: the snapshot's origin is gone (LVM then reports none), and a
    // snapshot LV named after vm-400-disk-1 whose origin LVM records as vm-400-disk-0
    String json = Fixture.load("lvm", V, "plugin-lvs-volumes").stdoutText()
        .replace("\"lv_name\":\"snap_vm-400-disk-0_before-upgrade\", \"lv_size\":\"1073741824\", "
            + "\"lv_attr\":\"Vri---tz-k\", \"pool_lv\":\"data\", \"origin\":\"vm-400-disk-0\"",
            "\"lv_name\":\"snap_vm-400-disk-0_before-upgrade\", \"lv_size\":\"1073741824\", "
            + "\"lv_attr\":\"Vri---tz-k\", \"pool_lv\":\"data\", \"origin\":\"\"")
        .replace("\"lv_name\":\"vm-404-disk-0\", \"lv_size\":\"67108864\", \"lv_attr\":\"Vwi---tz--\", "
            + "\"pool_lv\":\"data\", \"origin\":\"\"",
            "\"lv_name\":\"snap_vm-400-disk-1_odd\", \"lv_size\":\"67108864\", "
            + "\"lv_attr\":\"Vwi---tz--\", \"pool_lv\":\"data\", \"origin\":\"vm-400-disk-0\"");
    assertTrue(json.contains("snap_vm-400-disk-1_odd") && json.contains(
        "\"snap_vm-400-disk-0_before-upgrade\", \"lv_size\":\"1073741824\", \"lv_attr\":\"Vri---tz-k\", "
            + "\"pool_lv\":\"data\", \"origin\":\"\""), "both edits applied");
    lvm.expect(LVS).thenSucceed(json);
    assertEquals(List.of("local-lvm:vm-400-disk-0@before-upgrade"),
        plugin.listSnapshots(Optional.empty()).stream().map(i -> i.id().toString()).toList(),
        "without an origin the volname ends at the first '_'; a foreign origin is not listed");
    lvm.expect(LVS).thenSucceed(json);
    lvm.expect(argv(LvmCommands.remove("pve", "vm-400-disk-1"))).thenSucceed();
    plugin.freeImage("vm-400-disk-1"); // snap_vm-400-disk-1_odd is vm-400-disk-0's: kept
  }

  // ---- resize, size info, status -------------------------------------------------------------

  @Test
  void resizeToTheSameRoundedSizeIsANoOp() {
    listing();
    assertEquals(GIB, plugin.volumeResize("vm-400-disk-0", GIB));
    listing();
    assertEquals(GIB, plugin.volumeResize("vm-400-disk-0", GIB - 4 * MIB + 1),
        "rounds up to the 4 MiB extent, which is the current size");
    assertEquals(2, lvm.commands().size(), "no lvextend");
  }

  @Test
  void resizeGrowsToWholeExtents() {
    listing();
    lvm.expect(argv(LvmCommands.extend("pve", "vm-400-disk-0", 1052672))).thenSucceed();
    assertEquals(GIB + 4 * MIB, plugin.volumeResize("vm-400-disk-0", GIB + 1));
    listing();
    replay("plugin-lvextend-larger");
    assertEquals(2 * GIB, plugin.volumeResize("vm-400-disk-0", 2 * GIB));
  }

  @Test
  void resizeNeverShrinks() {
    listing();
    StorageException e = fails(ErrorKind.OUT_OF_RANGE,
        () -> plugin.volumeResize("vm-400-disk-0", GIB / 2));
    assertTrue(e.getMessage().contains("cannot shrink"), e.getMessage());
    assertEquals(1, lvm.commands().size());
  }

  @Test
  void resizeFailures() {
    fails(ErrorKind.INVALID, () -> plugin.volumeResize("vm-400-disk-0", 0));
    assertTrue(lvm.commands().isEmpty());
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeResize("vm-499-disk-0", GIB));
    listing();
    fails(ErrorKind.OUT_OF_RANGE, () -> plugin.volumeResize("vm-400-disk-0", Long.MAX_VALUE));
    // another writer grew it between our listing and lvextend: LVM's refusal is OUT_OF_RANGE
    listing();
    replay(argv(LvmCommands.extend("pve", "vm-400-disk-0", 1052672)), "plugin-lvextend-equal");
    fails(ErrorKind.OUT_OF_RANGE, () -> plugin.volumeResize("vm-400-disk-0", GIB + 1));
    plugin = plugin(new CapacityPolicy(1.0, 90, 80), "data");
    listing();
    fails(ErrorKind.EXHAUSTED, () -> plugin.volumeResize("vm-400-disk-0", 2 * GIB));
  }

  @Test
  void sizeInfo() {
    listing();
    assertEquals(new SizeInfo(8388608, ImageFormat.RAW, 0, Optional.empty()),
        plugin.volumeSizeInfo("vm-400-disk-1"));
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeSizeInfo("vm-499-disk-0"));
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.volumeSizeInfo("vm-1-not-thin"));
  }

  @Test
  void statusOfTheRecordedPool() {
    listing();
    PoolStatus status = plugin.status();
    long provisioned = 3 * GIB + 3 * 64 * MIB + 8 * MIB;
    assertEquals(new PoolStatus(4 * GIB, 0, 4 * GIB, provisioned, OptionalLong.of(4 * MIB),
        OptionalLong.of(487378), 8 * GIB - provisioned, true), status);
  }

  @Test
  void inventoryCountsVolumesAndSnapshotsFromTheSameSingleListing() {
    listing();
    PoolInventory inventory = plugin.inventory();
    assertEquals(1, lvm.commands().size(), "one lvs, as status()");
    // every image listImages lists (bases and the inactive one included), the one snapshot LV
    // listSnapshots lists; the pool LV itself is neither
    assertEquals(6, inventory.volumes());
    assertEquals(1, inventory.snapshots());
    assertEquals(Optional.empty(), inventory.health());
    listing();
    assertEquals(plugin.status(), inventory.status());
    listing();
    listing();
    assertEquals(plugin.listImages(OptionalLong.empty(), Optional.empty()).size(),
        inventory.volumes());
    assertEquals(plugin.listSnapshots(Optional.empty()).size(), inventory.snapshots());
  }

  @Test
  void inventoryOfAnEmptyPoolAndOfAMissingVg() {
    replay("plugin-lvs-empty-pool");
    PoolInventory empty = plugin.inventory();
    assertEquals(0, empty.volumes());
    assertEquals(0, empty.snapshots());
    replay(LVS, "plugin-lvs-missing-vg");
    fails(ErrorKind.NOT_FOUND, () -> plugin.inventory());
  }

  /**
   * An inactive pool reports no usage (fixture {@code plugin-lvs-inactive-pool}, recorded after
   * {@code vgchange -an}): it is activated first, as PVE's activate_storage does, and the
   * capacity comes from the listing after that.
   */
  @Test
  void anInactivePoolIsActivatedBeforeItsCapacityIsRead() {
    replay(LVS, "plugin-lvs-inactive-pool");
    replay("plugin-lvchange-activate-pool");
    replay(LVS, "plugin-lvs-activated-pool");
    PoolStatus status = plugin.status();
    assertTrue(status.active());
    assertEquals(OptionalLong.of(487378), status.metadataUsedBytes(),
        "11.62 % of 4 MiB, as listed after the activation");

    replay(LVS, "plugin-lvs-inactive-pool");
    replay("plugin-lvchange-activate-pool");
    replay(LVS, "plugin-lvs-activated-pool");
    lvm.expect("lvcreate", "-aly", "-V", "4096k", "--name", "vm-7-disk-0", "--thinpool",
        "pve/data").thenSucceed();
    lvm.expect(argv(LvmCommands.disableAutoactivation("pve", "vm-7-disk-0"))).thenSucceed();
    plugin.allocImage(7, ImageFormat.RAW, Optional.empty(), 4 * MIB, Optional.empty());
  }

  @Test
  void aPoolThatCannotBeActivatedIsUnavailableWithTheCommandToRun() {
    replay(LVS, "plugin-lvs-inactive-pool");
    lvm.expect(argv(LvmCommands.activate("pve", "data"))).thenExit(5, "",
        "  Check of pool pve/data failed (status:1). Manual repair required!");
    StorageException e = fails(ErrorKind.UNAVAILABLE, () -> plugin.allocImage(7,
        ImageFormat.RAW, Optional.empty(), 4 * MIB, Optional.empty()));
    assertTrue(e.getMessage().contains("thin pool 'pve/data' of storage 'local-lvm' is inactive")
        && e.getMessage().contains("Manual repair required")
        && e.getMessage().contains("lvconvert --repair pve/data")
        && e.getMessage().contains("'lvchange -ay -K pve/data'"), e.getMessage());
    assertEquals(2, lvm.commands().size(), "nothing created");

    replay(LVS, "plugin-lvs-inactive-pool");
    replay("plugin-lvchange-activate-pool");
    replay(LVS, "plugin-lvs-inactive-pool");
    e = fails(ErrorKind.UNAVAILABLE, () -> plugin.status());
    assertTrue(e.getMessage().contains("still inactive"), e.getMessage());
  }

  @Test
  void statusOfAMissingVgOrPoolIsNotFound() {
    replay(LVS, "plugin-lvs-missing-vg");
    fails(ErrorKind.NOT_FOUND, () -> plugin.status());
    plugin = plugin(CapacityPolicy.DEFAULT, "nosuchpool");
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.status());
    plugin = plugin(CapacityPolicy.DEFAULT, "vm-400-disk-0");
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.status()); // a thin volume is not a pool
  }

  // ---- activation, free names ------------------------------------------------------------------

  @Test
  void activateOnlyWhatIsInactiveWithK() {
    listing();
    lvm.expect(argv(LvmCommands.activate("pve", "vm-404-disk-0"))).thenSucceed();
    plugin.activateVolume("vm-404-disk-0", Optional.empty());
    listing();
    plugin.activateVolume("vm-400-disk-0", Optional.empty());
    listing();
    replay("plugin-lvchange-activate-snapshot");
    plugin.activateVolume("vm-400-disk-0", Optional.of("before-upgrade"));
    assertEquals(List.of("lvchange", "-ay", "-K", "pve/snap_vm-400-disk-0_before-upgrade"),
        lvm.commands().get(lvm.commands().size() - 1).argv());
    listing();
    fails(ErrorKind.NOT_FOUND, () -> plugin.activateVolume("vm-499-disk-0", Optional.empty()));
  }

  @Test
  void activationRaceMapsLvchangesAnswer() {
    listing();
    replay(argv(LvmCommands.activate("pve", "vm-404-disk-0")), "plugin-lvchange-activate-missing");
    fails(ErrorKind.NOT_FOUND, () -> plugin.activateVolume("vm-404-disk-0", Optional.empty()));
  }

  @Test
  void deactivateOnlySnapshotsAndBases() {
    plugin.deactivateVolume("vm-400-disk-0", Optional.empty());
    assertTrue(lvm.commands().isEmpty(), "ordinary volumes stay active, as in PVE");
    lvm.expect(argv(LvmCommands.deactivate("pve", "snap_vm-400-disk-0_s1"))).thenSucceed();
    plugin.deactivateVolume("vm-400-disk-0", Optional.of("s1"));
    replay(argv(LvmCommands.deactivate("pve", "base-402-disk-0")), "plugin-lvchange-deactivate");
    plugin.deactivateVolume("base-402-disk-0", Optional.empty());
    replay(argv(LvmCommands.deactivate("pve", "base-499-disk-0")), "plugin-lvchange-activate-missing");
    plugin.deactivateVolume("base-499-disk-0", Optional.empty());
    lvm.expect(argv(LvmCommands.deactivate("pve", "base-498-disk-0")))
        .thenExit(5, "", "  Logical volume pve/base-498-disk-0 in use.");
    fails(ErrorKind.PRECONDITION, () -> plugin.deactivateVolume("base-498-disk-0", Optional.empty()));
  }

  // ---- allocation size, finishing an interrupted create ----------------------------------------

  @Test
  void theAllocationUnitIsLearntWithOneListingWhenNoneWasMade() {
    listing();
    assertEquals(OptionalLong.of(8 * MIB), plugin.allocationSize(ImageFormat.RAW, 4 * MIB + 1));
    assertEquals(OptionalLong.of(4 * MIB), plugin.allocationSize(ImageFormat.RAW, 1));
    assertEquals(1, lvm.commands().size(), "known from then on");
    assertEquals(OptionalLong.empty(), plugin.allocationSize(ImageFormat.SUBVOL, 1));

    LvmThinPlugin fresh = plugin(CapacityPolicy.DEFAULT, "data");
    replay(LVS, "plugin-lvs-missing-vg");
    assertEquals(OptionalLong.empty(), fresh.allocationSize(ImageFormat.RAW, MIB),
        "unknown when the VG cannot be listed");
  }

  @Test
  void finishingACreateTurnsAutoactivationOffOnlyWhereItIsStillOn() {
    replay(argv(LvmCommands.autoactivation("pve", "vm-410-pvc-keep")),
        "plugin-lvs-autoactivation-on");
    replay(argv(LvmCommands.disableAutoactivation("pve", "vm-410-pvc-keep")),
        "plugin-lvchange-setautoactivation");
    plugin.finishCreate("vm-410-pvc-keep");

    replay("plugin-lvs-autoactivation-off");
    plugin.finishCreate("vm-410-pvc-keep");
    assertEquals(3, lvm.commands().size(), "off already: no lvchange");

    replay("plugin-lvs-autoactivation-missing");
    fails(ErrorKind.NOT_FOUND, () -> plugin.finishCreate("vm-499-disk-0"));
    fails(ErrorKind.INVALID, () -> plugin.finishCreate("snap_vm-1-a_s1"));
  }

  @Test
  void anLvmThatCannotTellLeavesAutoactivationAlone() {
    List<String> ask = argv(LvmCommands.autoactivation("pve", "vm-1-a"));
    lvm.expect(ask).thenExit(3, "", "  Unrecognised field: lv_autoactivation");
    plugin.finishCreate("vm-1-a");
    lvm.expect(ask).thenSucceed("{\"report\": [{\"lv\": [{\"lv_name\":\"vm-1-a\"}]}]}");
    plugin.finishCreate("vm-1-a");
    assertEquals(2, lvm.commands().size(), "no lvchange without an answer");
  }

  @Test
  void findFreeDisknameAsPve() {
    listing();
    assertEquals("vm-400-disk-2", plugin.findFreeDiskname(400, ImageFormat.RAW));
    listing();
    assertEquals("vm-401-disk-1", plugin.findFreeDiskname(401, ImageFormat.RAW));
    listing();
    assertEquals("vm-7-disk-0", plugin.findFreeDiskname(7, ImageFormat.RAW));
    fails(ErrorKind.INVALID, () -> plugin.findFreeDiskname(7, ImageFormat.SUBVOL));
  }
}
