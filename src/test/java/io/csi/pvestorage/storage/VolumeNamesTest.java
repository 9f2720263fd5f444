package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class VolumeNamesTest {

  private static final Pattern LVM_NAME = Pattern.compile("[a-z0-9][a-z0-9\\-_.]*[a-z0-9]");

  @Test
  void theUsualProvisionerNameIsKeptAsIs() {
    String csi = "pvc-6f2c1a9e-3c1b-4c4e-9a59-1d2b5b8f7a10";
    assertEquals("vm-0-" + csi, VolumeNames.volnameFor(csi, 0, ImageFormat.RAW));
    assertEquals("subvol-9000-" + csi, VolumeNames.volnameFor(csi, 9000, ImageFormat.SUBVOL));
  }

  @Test
  void otherNamesAreSanitisedAndHashedDeterministically() {
    String a = VolumeNames.volnameFor("My Volume/ü", 100, ImageFormat.RAW);
    assertEquals(a, VolumeNames.volnameFor("My Volume/ü", 100, ImageFormat.RAW));
    assertTrue(a.matches("vm-100-my-volume-[0-9a-f]{16}"), a);
    assertTrue(VolumeNames.volnameFor("UPPER", 1, ImageFormat.RAW).matches("vm-1-upper-[0-9a-f]{16}"));
    assertTrue(VolumeNames.volnameFor("___", 1, ImageFormat.RAW).matches("vm-1-v-[0-9a-f]{16}"));
    assertTrue(VolumeNames.volnameFor("a_tdata", 1, ImageFormat.RAW).matches("vm-1-a-tdata-[0-9a-f]{16}"),
        "no underscores, so no LVM reserved name parts");
  }

  @Test
  void pveAutomaticNamesAreNeverProducedFromCsiNames() {
    String name = VolumeNames.volnameFor("disk-0", 0, ImageFormat.RAW);
    assertTrue(name.startsWith("vm-0-disk-0-"), name);
  }

  @Test
  void everyNameFitsTheLimitsAndTheLvmGrammar() {
    String longest = "x".repeat(300);
    for (String csi : List.of(longest, "pvc-" + "a".repeat(120), "é".repeat(64), "-", "a.b",
        "a--b", "0" + "z".repeat(80))) {
      for (long owner : new long[] {0, 999_999_999}) {
        for (ImageFormat f : ImageFormat.values()) {
          String name = VolumeNames.volnameFor(csi, owner, f);
          assertTrue(name.length() <= VolumeNames.MAX_VOLNAME, name);
          assertTrue(LVM_NAME.matcher(name).matches(), name);
        }
      }
    }
  }

  @Test
  void distinctCsiNamesGiveDistinctVolumeNames() {
    Set<String> names = new HashSet<>();
    List<String> csiNames = new ArrayList<>();
    IntStream.range(0, 2000).forEach(i -> csiNames.add("Claim " + i));
    IntStream.range(0, 2000).forEach(i -> csiNames.add("claim-" + i));
    csiNames.add("x".repeat(100) + "a");
    csiNames.add("x".repeat(100) + "b");
    for (String csi : csiNames) {
      assertTrue(names.add(VolumeNames.volnameFor(csi, 0, ImageFormat.RAW)), csi);
    }
  }

  @Test
  void snapshotNamesFollowPvesGrammar() {
    assertEquals("before-upgrade", VolumeNames.snapNameFor("before-upgrade"));
    String fromSnapshotter = VolumeNames.snapNameFor("snapshot-8a3f0c1e-9d6b-4e2a-b3c4-5d6e7f8091a2");
    assertTrue(SnapshotId.SNAP_NAME.matcher(fromSnapshotter).matches(), fromSnapshotter);
    assertTrue(fromSnapshotter.length() <= 40);
    assertEquals(fromSnapshotter,
        VolumeNames.snapNameFor("snapshot-8a3f0c1e-9d6b-4e2a-b3c4-5d6e7f8091a2"));
    for (String odd : List.of("current", "9lives", "__base__", "Ünïcode", "", "snap.1",
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z")) {
      String snap = VolumeNames.snapNameFor(odd);
      assertTrue(SnapshotId.SNAP_NAME.matcher(snap).matches(), odd + " -> " + snap);
    }
  }

  @Test
  void aCloneSnapshotIsAValidSnapshotNameThatSaysWhatItIs() {
    for (String target : List.of("vm-0-pvc-8a3f0c1e-9d6b-4e2a-b3c4-5d6e7f8091a2", "vm-7-a.b",
        "subvol-999999999-x")) {
      String snap = VolumeNames.cloneSnapshotFor(target);
      assertTrue(SnapshotId.SNAP_NAME.matcher(snap).matches(), target + " -> " + snap);
      assertTrue(VolumeNames.isCloneSnapshotName(snap), snap);
      assertEquals(snap, VolumeNames.cloneSnapshotFor(target));
    }
    assertFalse(VolumeNames.isCloneSnapshotName(VolumeNames.snapNameFor("snapshot-1")));
  }

  @Test
  void findFreeDisknameSkipsEveryTakenNumberAsPveDoes() {
    List<String> existing = List.of(
        "vm-100-disk-0",          // plain
        "base-100-disk-1",        // bases count
        "snap_vm-100-disk-2_s1",  // snapshot LVs count (unanchored match)
        "del-vm-100-disk-3",      // pending deletes count
        "vm-100-disk-10",         // greedy digits: takes 10, not 1
        "vm-1000-disk-4",         // another owner
        "vm-100-state-x",         // not a disk name
        "subvol-100-disk-5");     // only counts for ZFS
    assertEquals("vm-100-disk-4",
        VolumeNames.findFreeDiskname(existing, 100, ImageFormat.RAW, false, "local-lvm"));
    List<String> zfs = new ArrayList<>(existing);
    zfs.add("vm-100-disk-4");
    assertEquals("subvol-100-disk-6",
        VolumeNames.findFreeDiskname(zfs, 100, ImageFormat.SUBVOL, true, "local-zfs"));
    assertEquals("vm-100-disk-5",
        VolumeNames.findFreeDiskname(zfs, 100, ImageFormat.RAW, false, "local-lvm"));
  }

  @Test
  void findFreeDisknameGivesUpAfter1024() {
    List<String> all = IntStream.range(0, 1024).mapToObj(i -> "vm-7-disk-" + i).toList();
    StorageException e = assertThrows(StorageException.class,
        () -> VolumeNames.findFreeDiskname(all, 7, ImageFormat.RAW, false, "local-lvm"));
    assertEquals(ErrorKind.EXHAUSTED, e.kind());
    assertEquals("unable to allocate an image name for VM 7 in storage 'local-lvm'", e.getMessage());
  }

  @Test
  void idsRoundTripAndRejectForeignShapes() {
    VolumeId id = VolumeId.parse("local-zfs:base-100-disk-0/vm-101-disk-0");
    assertEquals("local-zfs", id.storeId());
    assertEquals("base-100-disk-0/vm-101-disk-0", id.volname());
    SnapshotId snap = SnapshotId.parse("local-lvm:vm-0-pvc-1@before");
    assertEquals("local-lvm:vm-0-pvc-1@before", snap.toString());
    for (String bad : List.of("", "novolume", ":x", "local-lvm:", "1bad:vm-0-x", "a:b c",
        "ebs.csi.aws.com/vol-123")) {
      StorageException e = assertThrows(StorageException.class, () -> VolumeId.parse(bad), bad);
      assertEquals(ErrorKind.INVALID, e.kind());
    }
    assertThrows(StorageException.class, () -> SnapshotId.parse("local-lvm:vm-0-x@Bad!"));
    assertThrows(StorageException.class, () -> SnapshotId.parse("local-lvm:vm-0-x"));
  }
}
