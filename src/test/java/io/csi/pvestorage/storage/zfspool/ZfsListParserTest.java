package io.csi.pvestorage.storage.zfspool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The list parser, and the plugin's reading of listings, on output recorded from OpenZFS 2.1.11. */
class ZfsListParserTest {

  private static final Fixture SNAPSHOTS = Fixture.load("zfs-plugin-list-snapshots");
  private static final Fixture VOLUMES = Fixture.load("zfs-plugin-list-volumes");

  @Test
  void theFixturesWereRecordedWithThePluginsOwnCommands() {
    assertEquals(ZfsPoolPluginTest.LIST_2, SNAPSHOTS.argv());
    assertEquals(ZfsPoolPluginTest.LIST_1, VOLUMES.argv());
    assertEquals(List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS, "-t",
        "filesystem,volume", "rpool/data/subvol-0-pvc-2"),
        Fixture.load("zfs-plugin-list-one").argv());
  }

  @Test
  void parsesEveryColumnOfRealOutput() {
    Map<String, ZfsDataset> rows = byName(ZfsListParser.parse(SNAPSHOTS.stdoutText()));
    assertEquals(15, rows.size());

    ZfsDataset zvol = rows.get("rpool/data/vm-0-pvc-1");
    assertEquals("volume", zvol.type());
    assertEquals(OptionalLong.of(64L << 20), zvol.volsize());
    assertEquals(OptionalLong.empty(), zvol.refquota());
    assertEquals(OptionalLong.of(16384), zvol.volblocksize());
    assertEquals(1796637957L, zvol.creation());
    assertEquals(Optional.of("pvc-1"), zvol.csiName());
    assertEquals(Optional.of("ns1"), zvol.pvcNamespace());
    assertEquals(Optional.of("claim\tä"), zvol.pvcName(), "decoded, tab and all");
    assertEquals(Optional.of("pvc-1"), zvol.pvName());
    assertEquals(Optional.empty(), zvol.snapshotCsiName());
    assertEquals(Optional.empty(), zvol.deletedVolname());

    ZfsDataset cloned = rows.get("rpool/data/vm-0-pvc-1@snap-a");
    assertTrue(cloned.isSnapshot());
    assertEquals(List.of("rpool/data/vm-0-pvc-3"), cloned.clones());
    assertEquals(OptionalLong.of(64L << 20), cloned.volsize(), "zvol snapshots keep volsize");
    assertEquals(OptionalLong.empty(), cloned.available());
    assertEquals(Optional.of("snapshot-a"), cloned.snapshotCsiName());
    assertEquals(Optional.of("pvc-1"), cloned.csiName(), "snapshots inherit user properties");
    assertEquals(20, cloned.createTxg());

    ZfsDataset plain = rows.get("rpool/data/vm-0-pvc-1@snap-b");
    assertEquals(List.of(), plain.clones(), "no clones reads '-'");
    assertEquals(Optional.empty(), plain.snapshotCsiName());

    assertEquals(OptionalLong.of(0), rows.get("rpool/data/subvol-0-disk-0").refquota(),
        "refquota=none reads back as 0");
    assertEquals(OptionalLong.of(32L << 20), rows.get("rpool/data/subvol-0-pvc-2").refquota());
    assertEquals(OptionalLong.of(32L << 20),
        rows.get("rpool/data/subvol-0-pvc-2@snap-c").recordedRefquota());
    assertEquals(Optional.of("rpool/data/subvol-0-pvc-2@snap-c"),
        rows.get("rpool/data/subvol-0-pvc-4").origin());
    assertEquals("rpool/data/subvol-0-pvc-2",
        rows.get("rpool/data/subvol-0-pvc-2/nested").parentPath());
  }

  /**
   * Why rounding to 1 MiB is still ours to do: OpenZFS 2.1.11 itself rounds an unaligned
   * volsize up to the volblocksize (older versions refused it, zfs#8541), so without our
   * rounding the size would depend on the blocksize and the zfs version.
   */
  @Test
  void zfs2111RoundsAnUnalignedVolsizeToTheBlocksizeItself() {
    assertEquals(List.of("zfs", "create", "-b", "16384", "-V", "1000k", "rpool/data/vm-402-disk-0"),
        Fixture.load("zfs-create-unaligned").argv());
    assertEquals(0, Fixture.load("zfs-create-unaligned").exit());
    assertEquals("1032192", Fixture.load("zfs-get-volsize-unaligned").stdoutText().strip(),
        "63 x 16 KiB");
  }

  @Test
  void rejectsLinesThatLostTheirShape() {
    StorageException e = assertThrows(StorageException.class,
        () -> ZfsListParser.parse("rpool/data\tfilesystem\t-\n"));
    assertEquals(ErrorKind.INTERNAL, e.kind());
    String line = SNAPSHOTS.stdoutText().lines().findFirst().orElseThrow()
        .replace("1796637954", "yesterday");
    assertThrows(StorageException.class, () -> ZfsListParser.parse(line));
  }

  @Test
  void thePluginReadsTheRecordedListing() {
    FakeCommandRunner zfs = new FakeCommandRunner();
    zfs.expect(VOLUMES.argv()).thenExit(0, VOLUMES.stdoutText(), "")
        .expect(SNAPSHOTS.argv()).thenExit(0, SNAPSHOTS.stdoutText(), "")
        .expect(VOLUMES.argv()).thenExit(0, VOLUMES.stdoutText(), "");
    ZfsPoolPlugin plugin = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", "rpool/data",
        OptionalLong.empty(), true, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of(), 0, CapacityPolicy.DEFAULT)), zfs);

    List<ImageInfo> images = plugin.listImages(OptionalLong.empty(), Optional.empty());
    assertEquals(List.of("base-1-disk-0", "base-1-disk-0/vm-2-disk-0", "subvol-0-disk-0",
        "subvol-0-pvc-2", "subvol-0-pvc-4", "vm-0-pvc-1", "vm-0-pvc-3", "vm-3-disk-0"),
        images.stream().map(i -> i.volid().volname()).toList(),
        "direct children only (no nested), linked clone named base/clone");
    ImageInfo pvc1 = images.get(5);
    assertEquals(new VolumeMetadata("pvc-1", Optional.of("ns1"), Optional.of("claim\tä"),
        Optional.of("pvc-1")), pvc1.metadata().orElseThrow());
    assertEquals(ImageFormat.SUBVOL, images.get(2).format());
    assertEquals(0, images.get(2).sizeBytes(), "no quota");

    List<SnapshotInfo> snaps = plugin.listSnapshots(Optional.empty());
    assertEquals(List.of("subvol-0-pvc-2@snap-c", "vm-0-pvc-1@snap-a", "vm-0-pvc-1@snap-b"),
        snaps.stream().map(s -> s.id().volume().volname() + "@" + s.id().snapName()).toList(),
        "no __base__, no tombstone, nothing of the nested dataset");
    assertEquals(List.of(32L << 20, 64L << 20, 64L << 20),
        snaps.stream().map(SnapshotInfo::sizeBytes).toList());
    assertEquals(Optional.empty(), snaps.get(2).metadata(),
        "the volume's inherited CSI name is not taken for the snapshot's");

    assertEquals("vm-0-disk-1", plugin.findFreeDiskname(0, ImageFormat.RAW),
        "subvol-0-disk-0 takes number 0 for vm- too");
    zfs.verifyAllConsumed();
  }

  /**
   * Deleted volumes as the plugin leaves them (recorded: the plugin's own hide commands on a zvol
   * and a dataset, a new volume of the old name, a restore of the old one's CSI snapshot, and a
   * dataset named like a hidden one without the mark).
   */
  @Test
  void thePluginReadsDeletedVolumesFromARecordedListing() {
    Fixture deleted = Fixture.load("zfs-plugin-list-deleted");
    assertEquals(ZfsPoolPluginTest.LIST_2, deleted.argv());
    Map<String, ZfsDataset> rows = byName(ZfsListParser.parse(deleted.stdoutText()));
    assertEquals(Optional.of("vm-0-pvc-9"), rows.get("rpool/data/csi-deleted-1").deletedVolname());
    assertEquals(Optional.of("vm-0-pvc-9"), rows.get("rpool/data/csi-deleted-1@snap-9")
        .deletedVolname(), "snapshots inherit it, as every user property");
    assertEquals(Optional.empty(), rows.get("rpool/data/vm-0-pvc-9").deletedVolname());
    Listing listing = new Listing("rpool/data", List.copyOf(rows.values()));
    assertEquals(List.of("rpool/data/csi-deleted-1", "rpool/data/csi-deleted-2"),
        listing.hidden().stream().map(ZfsDataset::name).sorted().toList(),
        "csi-deleted-3 has no mark: not ours");

    FakeCommandRunner zfs = new FakeCommandRunner();
    zfs.expect(deleted.argv()).thenExit(0, deleted.stdoutText(), "")
        .expect(ZfsPoolPluginTest.LIST_1).thenExit(0, deleted.stdoutText(), "");
    ZfsPoolPlugin plugin = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", "rpool/data",
        OptionalLong.empty(), true, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of(), 0, CapacityPolicy.DEFAULT)), zfs);
    List<SnapshotInfo> snaps = plugin.listSnapshots(Optional.empty());
    assertEquals(List.of("local-zfs:subvol-0-pvc-11@snap-11", "local-zfs:vm-0-pvc-9@snap-9"),
        snaps.stream().map(s -> s.id().toString()).toList(),
        "CSI snapshots of deleted volumes under their old IDs; no tombstone");
    assertEquals(List.of(16L << 20, 16L << 20), snaps.stream().map(SnapshotInfo::sizeBytes)
        .toList());
    assertEquals(Optional.of(VolumeMetadata.of("snapshot-9")), snaps.get(1).metadata());
    assertEquals(List.of("vm-0-pvc-10", "vm-0-pvc-9", "vm-1-disk-0"),
        plugin.listImages(OptionalLong.empty(), Optional.empty()).stream()
            .map(i -> i.volid().volname()).toList(), "no deleted volume is an image");
    zfs.verifyAllConsumed();

    List<String> released = Fixture.load("zfs-get-deleted-released").stdoutText().lines().toList();
    assertTrue(released.contains("rpool/data/csi-deleted-1\trefreservation\t0"), released::toString);
    assertTrue(released.contains("rpool/data/csi-deleted-2\tmounted\tno"), released::toString);
    assertTrue(released.contains("rpool/data/csi-deleted-2\tcanmount\toff"), released::toString);
  }

  private static Map<String, ZfsDataset> byName(List<ZfsDataset> rows) {
    return rows.stream().collect(Collectors.toMap(ZfsDataset::name, Function.identity()));
  }
}
