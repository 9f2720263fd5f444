package io.csi.pvestorage.storage.zfspool;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The ZFS plugin on real OpenZFS (the harness guest's {@code rpool/data}), for zvols and
 * datasets: every case ends by checking what {@code zfs list} shows.
 */
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.ZPOOL)
class ZfsPoolPluginIT {

  private static final String DATA = VmHarness.ZFS_DATASET;
  private static final long MIB = 1L << 20;

  private GuestCommandRunner guest;
  private ZfsPoolPlugin plugin;

  @BeforeEach
  void setUp(GuestCommandRunner guest) {
    this.guest = guest;
    ZfsPoolStorage storage = new ZfsPoolStorage("local-zfs", DATA, OptionalLong.of(16384), true,
        Optional.empty(), new CommonOptions(Set.of(), false, Set.of("images", "rootdir"), 0,
            CapacityPolicy.DEFAULT));
    plugin = new ZfsPoolPlugin(storage, guest);
  }

  @AfterEach
  void removeEverythingBelowThePool() {
    for (String name : datasets()) {
      if (!name.equals(DATA)) {
        guest.run(Command.of(Duration.ofSeconds(60), "zfs", "destroy", "-R", name));
      }
    }
  }

  // ---- create, look up, list --------------------------------------------------------------

  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void allocIsFoundAgainByCsiNameAndListed(ImageFormat format) {
    String csiName = "pvc-" + format.pveName() + "-1";
    VolumeMetadata meta = new VolumeMetadata(csiName, Optional.of("ns\t1"),
        Optional.of("claim-ä"), Optional.of("pv-1"));
    String volname = VolumeNames.volnameFor(csiName, 0, format);
    assertEquals(volname, allocOnce(format, volname, 64 * MIB - 5, meta));
    // a retry of CreateVolume: found by its CSI name, nothing new created
    assertEquals(volname, allocOnce(format, volname, 64 * MIB - 5, meta));
    StorageException again = assertThrows(StorageException.class, () -> plugin.allocImage(0,
        format, Optional.of(volname), 64 * MIB, Optional.of(meta)));
    assertEquals(ErrorKind.ALREADY_EXISTS, again.kind(), again.describe());

    ImageInfo image = plugin.listImages(OptionalLong.of(0), Optional.empty()).stream()
        .filter(i -> i.volid().volname().equals(volname)).findFirst().orElseThrow();
    assertEquals(64 * MIB, image.sizeBytes(), "rounded up to 1 MiB");
    assertEquals(format, image.format());
    assertEquals(Optional.of(meta), image.metadata());
    assertEquals(List.of(DATA, DATA + "/" + volname), datasets());
    if (format == ImageFormat.RAW) {
      assertEquals("67108864", get("volsize", volname));
      assertEquals("16384", get("volblocksize", volname));
      assertEquals("0", get("refreservation", volname), "sparse: nothing reserved");
      ok("test", "-b", "/dev/zvol/" + DATA + "/" + volname);
    } else {
      assertEquals("67108864", get("refquota", volname));
      assertEquals("posix", get("acltype", volname));
      assertEquals("sa", get("xattr", volname));
      assertEquals(plugin.path(volname, Optional.empty()).toString(), get("mountpoint", volname));
    }
  }

  private String allocOnce(ImageFormat format, String volname, long size, VolumeMetadata meta) {
    return plugin.listImages(OptionalLong.empty(), Optional.empty()).stream()
        .filter(i -> i.metadata().map(m -> m.csiName().equals(meta.csiName())).orElse(false))
        .map(i -> i.volid().volname()).findFirst()
        .orElseGet(() -> plugin.allocImage(0, format, Optional.of(volname), size,
            Optional.of(meta)));
  }

  // ---- snapshot and clone: the data --------------------------------------------------------

  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void cloneFromSnapshotHoldsTheDataWrittenBeforeTheSnapshot(ImageFormat format) {
    String vol = plugin.allocImage(10, format, Optional.empty(), 32 * MIB, Optional.empty());
    plugin.activateVolume(vol, Optional.empty());
    write(format, vol);
    byte[] before = read(format, vol);
    plugin.volumeSnapshot(vol, "snap-1", Optional.of(VolumeMetadata.of("snapshot-1")));
    write(format, vol);
    assertFalse(Arrays.equals(before, read(format, vol)), "the volume changed after the snapshot");

    List<SnapshotInfo> snaps = plugin.listSnapshots(Optional.of(vol));
    assertEquals(1, snaps.size(), snaps.toString());
    assertEquals(32 * MIB, snaps.get(0).sizeBytes(), "size at snapshot time, never 0");
    assertEquals(Optional.of(VolumeMetadata.of("snapshot-1")), snaps.get(0).metadata());

    String clone = plugin.cloneImage(vol, 11, Optional.of("snap-1"), Optional.empty(),
        Optional.of(VolumeMetadata.of("restored")));
    plugin.activateVolume(clone, Optional.empty());
    assertArrayEquals(before, read(format, clone), "the clone shows the snapshot's data");
    assertEquals(32 * MIB, plugin.volumeSizeInfo(clone).sizeBytes());
    assertEquals(Optional.of(vol + "@snap-1"), plugin.volumeSizeInfo(clone).parent());
  }

  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void createBaseThenLinkedClone(ImageFormat format) {
    String vol = plugin.allocImage(20, format, Optional.empty(), 16 * MIB, Optional.empty());
    plugin.activateVolume(vol, Optional.empty());
    write(format, vol);
    byte[] data = read(format, vol);
    String base = plugin.createBase(vol);
    assertEquals(format == ImageFormat.RAW ? "base-20-disk-0" : "basevol-20-disk-0", base);
    String clone = plugin.cloneImage(base, 21, Optional.empty(), Optional.empty(),
        Optional.empty());
    String plain = clone.substring(clone.indexOf('/') + 1);
    assertEquals(base + "/" + (format == ImageFormat.RAW ? "vm" : "subvol") + "-21-disk-0",
        clone);
    plugin.activateVolume(clone, Optional.empty());
    assertArrayEquals(data, read(format, plain));
    assertTrue(plugin.listImages(OptionalLong.of(21), Optional.empty()).stream()
        .anyMatch(i -> i.volid().volname().equals(clone)));
    StorageException twice = assertThrows(StorageException.class, () -> plugin.createBase(base));
    assertEquals(ErrorKind.PRECONDITION, twice.kind());
  }

  // ---- resize ------------------------------------------------------------------------------

  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void growEqualAndShrink(ImageFormat format) {
    String vol = plugin.allocImage(30, format, Optional.empty(), 16 * MIB, Optional.empty());
    String property = format == ImageFormat.RAW ? "volsize" : "refquota";
    assertEquals(48 * MIB, plugin.volumeResize(vol, 47 * MIB + 1));
    assertEquals(Long.toString(48 * MIB), get(property, vol));
    assertEquals(48 * MIB, plugin.volumeResize(vol, 48 * MIB), "equal: no-op");
    assertEquals(48 * MIB, plugin.volumeResize(vol, 47 * MIB + 1), "rounds to equal: no-op");
    StorageException shrink = assertThrows(StorageException.class,
        () -> plugin.volumeResize(vol, 16 * MIB));
    assertEquals(ErrorKind.OUT_OF_RANGE, shrink.kind());
    assertEquals(Long.toString(48 * MIB), get(property, vol), "unchanged");
    assertEquals(48 * MIB, plugin.volumeSizeInfo(vol).sizeBytes());
  }

  // ---- delete ------------------------------------------------------------------------------

  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void freeWithSnapshotsAndTwice(ImageFormat format) {
    String vol = plugin.allocImage(40, format, Optional.empty(), 16 * MIB, Optional.empty());
    plugin.volumeSnapshot(vol, "s1", Optional.empty());
    plugin.volumeSnapshot(vol, "s2", Optional.empty());
    plugin.freeImage(vol);
    plugin.freeImage(vol);
    plugin.volumeSnapshotDelete(vol, "s1");
    assertEquals(List.of(DATA), everything());
  }

  /**
   * The clone-dependency strategy on real ZFS: the snapshot is deleted while a clone exists,
   * then the source, then the clone; nothing is left.
   */
  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void deleteSnapshotThenSourceThenCloneLeavesNothing(ImageFormat format) {
    String vol = plugin.allocImage(50, format, Optional.empty(), 16 * MIB, Optional.empty());
    plugin.activateVolume(vol, Optional.empty());
    write(format, vol);
    byte[] data = read(format, vol);
    plugin.volumeSnapshot(vol, "s1", Optional.empty());
    plugin.volumeSnapshot(vol, "s2", Optional.empty());
    String clone = plugin.cloneImage(vol, 51, Optional.of("s1"), Optional.empty(),
        Optional.empty());

    plugin.volumeSnapshotDelete(vol, "s1");
    assertEquals(List.of("s2"), plugin.listSnapshots(Optional.of(vol)).stream()
        .map(s -> s.id().snapName()).toList(), "s1 is gone for the API");
    plugin.volumeSnapshot(vol, "s1", Optional.empty()); // its name is free again

    plugin.freeImage(vol);
    assertFalse(everything().stream().anyMatch(n -> n.startsWith(DATA + "/" + vol)),
        everything().toString());
    plugin.activateVolume(clone, Optional.empty());
    assertArrayEquals(data, read(format, clone), "the clone survived its source");
    assertEquals(List.of(), plugin.listSnapshots(Optional.of(clone)), "tombstones are hidden");

    plugin.freeImage(clone);
    plugin.freeImage(clone);
    assertEquals(List.of(DATA), everything(), "no dataset or snapshot left behind");
  }

  /** The other order: the source goes first while the clone and the snapshot still exist. */
  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void deleteSourceWithClonesOfTwoSnapshotsThenTheClones(ImageFormat format) {
    String vol = plugin.allocImage(60, format, Optional.empty(), 16 * MIB, Optional.empty());
    plugin.volumeSnapshot(vol, "s1", Optional.empty());
    plugin.volumeSnapshot(vol, "s2", Optional.empty());
    plugin.volumeSnapshot(vol, "s3", Optional.empty());
    String c1 = plugin.cloneImage(vol, 61, Optional.of("s1"), Optional.empty(), Optional.empty());
    String c2 = plugin.cloneImage(vol, 61, Optional.of("s2"), Optional.empty(), Optional.empty());
    String c3 = plugin.cloneImage(vol, 61, Optional.of("s2"), Optional.empty(), Optional.empty());

    plugin.freeImage(vol);
    plugin.freeImage(vol);
    assertEquals(Set.of(c1, c2, c3), Set.copyOf(plugin.listImages(OptionalLong.empty(),
        Optional.empty()).stream().map(i -> i.volid().volname()).toList()));
    plugin.volumeSnapshotDelete(vol, "s1"); // gone with its volume: success

    plugin.freeImage(c2);
    plugin.freeImage(c1);
    assertNotEquals(List.of(DATA), everything(), "c3 still needs its origin");
    plugin.freeImage(c3);
    assertEquals(List.of(DATA), everything(), "no dataset or snapshot left behind");
  }

  /**
   * A volume deleted while a restore of its snapshot lives is hidden, not destroyed: the
   * restore keeps its data and stays writable, the snapshot's ID lists nothing (it was deleted
   * first), and when the restore goes, the hidden volume goes with it in the same call.
   */
  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void aDeletedVolumesRestoreKeepsWorkingAndTakesItAlongWhenItGoes(ImageFormat format) {
    String vol = plugin.allocImage(100, format, Optional.empty(), 16 * MIB,
        Optional.of(VolumeMetadata.of("pvc-hidden-" + format.pveName())));
    plugin.activateVolume(vol, Optional.empty());
    write(format, vol);
    byte[] data = read(format, vol);
    plugin.volumeSnapshot(vol, "s1", Optional.of(VolumeMetadata.of("snapshot-hidden")));
    String restore = plugin.cloneImage(vol, 101, Optional.of("s1"), Optional.empty(),
        Optional.of(VolumeMetadata.of("pvc-restore")));
    plugin.volumeSnapshotDelete(vol, "s1");
    plugin.freeImage(vol);

    List<String> hidden = datasets().stream()
        .filter(n -> n.startsWith(DATA + "/csi-deleted-")).toList();
    assertEquals(1, hidden.size(), datasets().toString());
    String hiddenName = hidden.get(0).substring(DATA.length() + 1);
    assertEquals(vol, get("pve-storage.csi.io:deleted-volname", hiddenName));
    assertEquals(List.of(restore), plugin.listImages(OptionalLong.empty(), Optional.empty())
        .stream().map(i -> i.volid().volname()).toList());
    assertEquals(List.of(), plugin.listSnapshots(Optional.of(vol)));
    plugin.activateVolume(restore, Optional.empty());
    assertArrayEquals(data, read(format, restore), "the restore keeps the snapshot's data");
    write(format, restore);

    plugin.freeImage(restore);
    assertEquals(List.of(DATA), everything(), "the hidden volume went with its last clone");
  }

  /**
   * What a deleted volume gives back while its CSI snapshot keeps it: a thick zvol its
   * reservation, a dataset its mount; neither counts as provisioned any more. Its snapshot is
   * still restorable; deleting that snapshot destroys the hidden volume.
   */
  @ParameterizedTest
  @EnumSource(ImageFormat.class)
  void aDeletedVolumeReleasesItsReservationAndMountAndIsNotProvisioned(ImageFormat format) {
    ZfsPoolPlugin thick = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", DATA,
        OptionalLong.empty(), false, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of("images", "rootdir"), 0, CapacityPolicy.DEFAULT)), guest);
    String vol = thick.allocImage(102, format, Optional.empty(), 64 * MIB, Optional.empty());
    thick.activateVolume(vol, Optional.empty());
    write(format, vol);
    byte[] data = read(format, vol);
    thick.volumeSnapshot(vol, "s1", Optional.of(VolumeMetadata.of("snapshot-release")));
    long provisioned = thick.status().provisionedBytes();
    if (format == ImageFormat.RAW) {
      assertTrue(Long.parseLong(get("refreservation", vol)) >= 64 * MIB);
    } else {
      assertEquals("yes", get("mounted", vol));
    }

    thick.freeImage(vol);
    String hidden = datasets().stream().filter(n -> n.startsWith(DATA + "/csi-deleted-"))
        .findFirst().orElseThrow().substring(DATA.length() + 1);
    if (format == ImageFormat.RAW) {
      assertEquals("0", get("refreservation", hidden));
    } else {
      assertEquals("no", get("mounted", hidden));
      assertEquals("off", get("canmount", hidden));
      assertFalse(ok("ls", "-A", "/" + DATA).stdoutText().contains("csi-deleted-"),
          "no mount point of the deleted dataset is left behind");
    }
    assertEquals(provisioned - 64 * MIB, thick.status().provisionedBytes());

    String restore = thick.cloneImage(vol, 103, Optional.of("s1"), Optional.empty(),
        Optional.empty());
    plugin.activateVolume(restore, Optional.empty());
    assertArrayEquals(data, read(format, restore));
    thick.freeImage(restore);
    thick.volumeSnapshotDelete(vol, "s1");
    assertEquals(List.of(DATA), everything(), "the last snapshot took the deleted volume along");
  }

  /**
   * PVE does not see a deleted volume: its own list_images command (pve-storage-semantics.md
   * section 2.2: {@code zfs list -o name,volsize,origin,type,refquota -t volume,filesystem -d1
   * -Hp <pool>}, each line split on whitespace, the parent path equal to the pool, the last
   * path element matching {@code ^(vm|base|subvol|basevol)-(\d+)-(\S+)$}) keeps the live volume
   * beside it and drops the hidden one, which zfs itself does list.
   */
  @Test
  void pvesOwnListingDoesNotShowADeletedVolume() {
    String gone = plugin.allocImage(104, ImageFormat.RAW, Optional.empty(), 8 * MIB,
        Optional.empty());
    plugin.volumeSnapshot(gone, "s1", Optional.of(VolumeMetadata.of("snapshot-pve")));
    plugin.freeImage(gone);
    String live = plugin.allocImage(104, ImageFormat.SUBVOL, Optional.empty(), 8 * MIB,
        Optional.empty());

    List<String[]> lines = ok("zfs", "list", "-o", "name,volsize,origin,type,refquota", "-t",
        "volume,filesystem", "-d1", "-Hp", DATA).stdoutText().lines()
        .map(l -> l.split("\\s+")).toList();
    assertTrue(lines.stream().anyMatch(f -> f[0].startsWith(DATA + "/csi-deleted-")),
        "zfs lists the hidden dataset");
    Pattern volume = Pattern.compile("^(vm|base|subvol|basevol)-(\\d+)-(\\S+)$");
    List<String> pveSees = new ArrayList<>();
    for (String[] f : lines) {
      String name = f[0];
      int slash = name.lastIndexOf('/');
      if ((f[3].equals("volume") || f[3].equals("filesystem")) && slash > 0
          && name.substring(0, slash).equals(DATA)
          && volume.matcher(name.substring(slash + 1)).matches()) {
        pveSees.add(name.substring(slash + 1));
      }
    }
    assertEquals(List.of(live), pveSees);
    assertEquals(List.of("local-zfs:" + gone + "@s1"), plugin.listSnapshots(Optional.empty())
        .stream().map(s -> s.id().toString()).toList(), "the driver still lists its snapshot");
  }

  @Test
  void aBaseWithLinkedClonesCanBeFreed() {
    String vol = plugin.allocImage(70, ImageFormat.RAW, Optional.empty(), 16 * MIB,
        Optional.empty());
    String base = plugin.createBase(vol);
    String clone = plugin.cloneImage(base, 71, Optional.empty(), Optional.empty(),
        Optional.empty());
    plugin.freeImage(base);
    // the clone no longer depends on a base: listed under its own name, old ID still works
    assertEquals(List.of("vm-71-disk-0"), plugin.listImages(OptionalLong.empty(),
        Optional.empty()).stream().map(i -> i.volid().volname()).toList());
    assertEquals(16 * MIB, plugin.volumeSizeInfo(clone).sizeBytes());
    plugin.freeImage(clone);
    assertEquals(List.of(DATA), everything());
  }

  /** A volume in use cannot be freed: busy is retried, then PRECONDITION; later it works. */
  @Test
  void aMountedZvolIsBusyThenFreedOnceUnmounted() {
    String vol = plugin.allocImage(90, ImageFormat.RAW, Optional.empty(), 16 * MIB,
        Optional.empty());
    String dev = plugin.path(vol, Optional.empty()).toString();
    ok("mkfs.ext4", "-q", dev);
    ok("mkdir", "-p", "/mnt/zfs-it-busy");
    ok("mount", dev, "/mnt/zfs-it-busy");
    try {
      StorageException busy = assertThrows(StorageException.class, () -> plugin.freeImage(vol));
      assertEquals(ErrorKind.PRECONDITION, busy.kind(), busy.describe());
      assertTrue(busy.describe().contains("dataset is busy"), busy.describe());
    } finally {
      ok("umount", "/mnt/zfs-it-busy");
    }
    plugin.freeImage(vol);
    assertEquals(List.of(DATA), everything());
  }

  /**
   * A zvol whose /dev/zvol link udev never made (as when it kills {@code zvol_id} under load)
   * gets it back: activation waits a third of its time, then asks udev again for the zvol
   * devices without a link. The link is removed by hand here to get that state reliably.
   */
  @Test
  void aMissingZvolLinkIsMadeAgainByAskingUdev() {
    String vol = plugin.allocImage(97, ImageFormat.RAW, Optional.empty(), 8 * MIB,
        Optional.empty());
    String link = "/dev/zvol/" + DATA + "/" + vol;
    guest.run(Command.of(Duration.ofSeconds(30), "rm", link)).requireSuccess();
    assertNotEquals(0, guest.run(Command.of(Duration.ofSeconds(30), "test", "-L", link))
        .exitCode(), "the link is gone");

    ZfsPoolPlugin patient = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", DATA,
        OptionalLong.of(16384), true, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of("images"), 0, CapacityPolicy.DEFAULT)), guest,
        new ZfsPoolPlugin.Options(Duration.ofMinutes(2), Duration.ofSeconds(9),
            Duration.ofSeconds(1), 6, Duration.ofSeconds(1)),
        java.time.Clock.systemUTC(), d -> Thread.sleep(d.toMillis()));
    patient.activateVolume(vol, Optional.empty());

    assertEquals(0, guest.run(Command.of(Duration.ofSeconds(30), "test", "-b", link))
        .exitCode(), "the link is back");
    plugin.freeImage(vol);
  }

  /** Not sparse: zvols and their clones reserve their size (PVE's clones would not). */
  @Test
  void aThickStorageReservesForVolumesAndClones() {
    ZfsPoolPlugin thick = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", DATA,
        OptionalLong.empty(), false, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of("images"), 0, CapacityPolicy.DEFAULT)), guest);
    String vol = thick.allocImage(95, ImageFormat.RAW, Optional.empty(), 64 * MIB,
        Optional.empty());
    assertTrue(Long.parseLong(get("refreservation", vol)) >= 64 * MIB, get("refreservation", vol));
    thick.volumeSnapshot(vol, "s1", Optional.empty());
    String clone = thick.cloneImage(vol, 96, Optional.of("s1"), Optional.empty(),
        Optional.empty());
    assertTrue(Long.parseLong(get("refreservation", clone)) >= 64 * MIB,
        get("refreservation", clone));
    assertEquals(96 * MIB, thick.volumeResize(vol, 96 * MIB));
    assertTrue(Long.parseLong(get("refreservation", vol)) >= 96 * MIB,
        "ZFS grows the reservation with volsize: " + get("refreservation", vol));
  }

  // ---- status ------------------------------------------------------------------------------

  @Test
  void statusAgreesWithZfsGet() {
    plugin.allocImage(80, ImageFormat.RAW, Optional.empty(), 64 * MIB, Optional.empty());
    plugin.allocImage(80, ImageFormat.SUBVOL, Optional.empty(), 32 * MIB, Optional.empty());
    ok("zpool", "sync", "rpool");
    PoolStatus measured = null;
    List<Long> fromGet = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      List<Long> before = availableUsed();
      measured = plugin.status();
      fromGet = availableUsed();
      if (before.equals(fromGet)) {
        break;
      }
    }
    PoolStatus status = measured;
    assertEquals(fromGet, List.of(status.availableBytes(), status.usedBytes()));
    assertEquals(status.availableBytes() + status.usedBytes(), status.totalBytes());
    assertEquals(96 * MIB, status.provisionedBytes());
    // CapacityPolicy.DEFAULT: overcommit 2, data limit 90 %; the storage is sparse
    assertTrue(status.usedBytes() * 100 < status.totalBytes() * 90, status.toString());
    assertEquals(status.totalBytes() * 2 - status.provisionedBytes(), status.allocatableBytes());
    StorageException full = assertThrows(StorageException.class, () -> plugin.allocImage(80,
        ImageFormat.RAW, Optional.empty(), status.allocatableBytes() + 1, Optional.empty()));
    assertEquals(ErrorKind.EXHAUSTED, full.kind(), full.describe());
    assertEquals(List.of(DATA, DATA + "/subvol-80-disk-1", DATA + "/vm-80-disk-0"), datasets(),
        "nothing created");
  }

  // ---- helpers -----------------------------------------------------------------------------

  private List<Long> availableUsed() {
    return ok("zfs", "get", "-H", "-p", "-o", "value", "available,used", DATA).stdoutText()
        .lines().map(Long::parseLong).toList();
  }

  /** Writes 1 MiB of random data: to the zvol, or to a file in the dataset. */
  private void write(ImageFormat format, String volname) {
    if (format == ImageFormat.RAW) {
      ok("dd", "if=/dev/urandom", "of=" + plugin.path(volname, Optional.empty()), "bs=1M",
          "count=1", "oflag=direct", "status=none");
    } else {
      ok("dd", "if=/dev/urandom", "of=" + plugin.path(volname, Optional.empty()) + "/payload",
          "bs=1M", "count=1", "status=none");
    }
    ok("sync");
  }

  private byte[] read(ImageFormat format, String volname) {
    String name = volname.substring(volname.indexOf('/') + 1);
    String path = plugin.path(name, Optional.empty())
        + (format == ImageFormat.RAW ? "" : "/payload");
    byte[] bytes = ok("dd", "if=" + path, "bs=1M", "count=1", "iflag=direct", "status=none")
        .stdout();
    assertEquals(MIB, bytes.length);
    return bytes;
  }

  private String get(String property, String volname) {
    return ok("zfs", "get", "-H", "-p", "-o", "value", property, DATA + "/" + volname)
        .stdoutText().strip();
  }

  /** Datasets below the pool dataset (depth 1), by name. */
  private List<String> datasets() {
    return ok("zfs", "list", "-H", "-o", "name", "-t", "filesystem,volume", "-r", "-d", "1", DATA)
        .stdoutText().lines().toList();
  }

  /** Everything below the pool dataset: datasets and snapshots, any depth. */
  private List<String> everything() {
    return ok("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", DATA).stdoutText().lines()
        .toList();
  }

  private CommandResult ok(String... argv) {
    CommandResult result = guest.run(Command.of(Duration.ofSeconds(120), argv));
    if (!result.succeeded()) {
      throw result.failure(ErrorKind.INTERNAL, String.join(" ", argv) + " failed");
    }
    return result;
  }
}
