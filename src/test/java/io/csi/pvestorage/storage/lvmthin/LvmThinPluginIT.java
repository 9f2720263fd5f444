package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.StoragePluginContract;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * {@link LvmThinPlugin} on the real thin pool {@code pve/data} of the harness guest: the
 * generic cases of {@link StoragePluginContract} plus what is particular to LVM-thin (tags and
 * autoactivation on the real LV, extent rounding, status against {@code lvs}, activation skip,
 * independent thin snapshots, an LV in use).
 */
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
class LvmThinPluginIT extends StoragePluginContract {

  private static final ObjectMapper JSON = new ObjectMapper();

  private GuestCommandRunner guest;
  private LvmThinPlugin plugin;

  @BeforeEach
  void connect(GuestCommandRunner guest) {
    this.guest = guest;
    this.plugin = new LvmThinPlugin(new LvmThinStorage("local-lvm", VmHarness.VG,
        VmHarness.THIN_POOL, new CommonOptions(Set.of(), false, Set.of("images"), 0,
            CapacityPolicy.DEFAULT)), guest);
  }

  @Override
  protected StoragePlugin plugin() {
    return plugin;
  }

  @Override
  protected CommandRunner guest() {
    return guest;
  }

  /** Every LV of the VG, hidden ones included, read with lvs itself. */
  @Override
  protected List<String> poolObjects() {
    return ok("lvs", "-a", "--noheadings", "-o", "lv_name", VmHarness.VG).stdoutText().lines()
        .map(String::strip).filter(l -> !l.isEmpty()).sorted().toList();
  }



  /** One LV as lvs reports it, read independently of the plugin's parser. */
  private JsonNode lv(String name, String columns) {
    CommandResult result = ok("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", columns, VmHarness.VG + "/" + name);
    try {
      return JSON.readTree(result.stdoutText()).path("report").get(0).path("lv").get(0);
    } catch (Exception e) {
      throw new AssertionError(result.stdoutText(), e);
    }
  }

  @Test
  void newVolumesCarryTheirTagsAndNoAutoactivation() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 4 * MIB,
        Optional.of(new VolumeMetadata("name, with comma", Optional.of("ns"),
            Optional.of("claim.v1"), Optional.empty())));
    JsonNode row = lv(volname, "lv_tags,lv_attr");
    assertEquals("pve-storage.csi.io/name.b64=bmFtZSwgd2l0aCBjb21tYQ,"
        + "pve-storage.csi.io/pvc-name=claim.v1,pve-storage.csi.io/pvc-namespace=ns",
        row.path("lv_tags").asText());
    // Two views of the setting: the LV's flags in the VG metadata (NOAUTOACTIVATE), and lvs'
    // lv_autoactivation column, which finishCreate reads (1/0 with --binary on lvm2 2.03.16)
    String plain = "vm-" + owner + "-plain";
    ok("lvcreate", "-V", "4M", "-T", VmHarness.VG + "/" + VmHarness.THIN_POOL, "-n", plain);
    assertFalse(autoactivationOn(volname), "the plugin's volume");
    assertTrue(autoactivationOn(plain), "the control without lvchange");
    assertEquals('a', row.path("lv_attr").asText().charAt(4), "active after alloc: " + row);
  }

  /** Whether the VG metadata and lvs agree that autoactivation is on for the LV; which it is. */
  private boolean autoactivationOn(String lv) {
    ok("vgcfgbackup", "-f", "/tmp/vg-metadata", VmHarness.VG);
    boolean inMetadata = !lvMetadata(ok("cat", "/tmp/vg-metadata").stdoutText(), lv)
        .contains("NOAUTOACTIVATE");
    String column = lv(lv, "lv_autoactivation").path("lv_autoactivation").asText();
    assertEquals(inMetadata ? "enabled" : "", column, "lvs agrees with the VG metadata");
    assertEquals(Optional.of(inMetadata), LvmReportParser.autoactivation(
        ok(LvmCommands.autoactivation(VmHarness.VG, lv).argv().toArray(String[]::new))
            .stdoutText()), "and so does the plugin's own report");
    return inMetadata;
  }

  /**
   * A crash between the plugin's lvcreate and its lvchange leaves a tagged volume that boot-time
   * autoactivation would bring up; finishCreate (what an adopting retry runs) turns it off, and
   * does nothing more once it is off.
   */
  @Test
  void finishingACreateTurnsOffTheAutoactivationACrashLeftOn() {
    long owner = newOwner();
    String volname = "vm-" + owner + "-crashed";
    ok(LvmCommands.createThin(VmHarness.VG, VmHarness.THIN_POOL, volname, 4096,
        LvTags.encode(VolumeMetadata.of("pvc-crashed-" + owner))).argv().toArray(String[]::new));
    assertTrue(autoactivationOn(volname));
    plugin.finishCreate(volname);
    assertFalse(autoactivationOn(volname));
    plugin.finishCreate(volname);
    assertFalse(autoactivationOn(volname));
    fails(ErrorKind.NOT_FOUND, () -> plugin.finishCreate("vm-" + owner + "-missing"));
  }

  /**
   * PVE lists LVs with {@code lvs --separator :} and splits each line on every ':' (LVMPlugin's
   * lvm_list_volumes), the tags before the metadata size and the time: tags of any CSI name and
   * claim must leave PVE its twelve columns and the volume's ctime.
   */
  @Test
  void pveReadsTheCtimeOfAVolumeWhoseNamesHoldColonsAndCommas() {
    long owner = newOwner();
    VolumeMetadata odd = new VolumeMetadata("ns:claim, with comma", Optional.of("a:b"),
        Optional.of("data,db:0"), Optional.of("pv:1"));
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 4 * MIB,
        Optional.of(odd));
    String line = ok("lvs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered",
        "--nosuffix", "--config", "report/time_format=\"%s\"", "--options",
        "vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,"
            + "tags,metadata_size,time", VmHarness.VG + "/" + volname).stdoutText().strip();
    String[] columns = line.split(":", -1);
    assertEquals(12, columns.length, line);
    assertEquals(volname, columns[1]);
    var image = plugin.listImages(OptionalLong.empty(), Optional.of(List.of(
        new VolumeId("local-lvm", volname)))).getFirst();
    assertEquals(image.ctime().orElseThrow().getEpochSecond(), Long.parseLong(columns[11]),
        "PVE's ctime column: " + line);
    assertEquals(Optional.of(odd), image.metadata());
  }

  /**
   * An inactive thin pool reports no usage; the plugin activates it (as PVE's activate_storage)
   * before it reads the capacity, so a pool with data never looks empty.
   */
  @Test
  void anInactivePoolIsActivatedBeforeItsCapacityIsRead() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 16 * MIB,
        Optional.empty());
    writeData(volname, "some data in the pool");
    long used = plugin.status().usedBytes();
    assertTrue(used > 0, "the pool holds data");
    ok("vgchange", "-an", VmHarness.VG);
    JsonNode inactive = lv(VmHarness.THIN_POOL, "lv_attr,data_percent");
    assertEquals('-', inactive.path("lv_attr").asText().charAt(4), inactive.toString());
    assertEquals("", inactive.path("data_percent").asText(), "LVM reports no usage: " + inactive);

    PoolStatus status = plugin.status();
    assertTrue(status.active(), status.toString());
    assertEquals(used, status.usedBytes(), "the usage of the active pool, not 0");
    assertEquals('a', lv(VmHarness.THIN_POOL, "lv_attr").path("lv_attr").asText().charAt(4));
    assertEquals("some data in the pool", readData(volname));
  }

  /**
   * A PVC clone takes its snapshot, clones it and removes it in one hold of the lock, so a
   * clone snapshot found under the lock was left by a process that died: the next delete
   * removes it. A snapshot of a guest disk that only has such a name, and CSI snapshots, stay.
   */
  @Test
  void theSnapshotAPvcCloneLeftBehindIsRemovedByTheNextDelete() {
    long owner = newOwner();
    String source = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 8 * MIB,
        Optional.of(VolumeMetadata.of("pvc-source-" + owner)));
    String leftover = VolumeNames.cloneSnapshotFor("vm-" + owner + "-pvc-clone");
    plugin.volumeSnapshot(source, leftover, Optional.empty());
    plugin.volumeSnapshot(source, "kept", Optional.of(VolumeMetadata.of("snap-kept-" + owner)));
    String guestDisk = "vm-" + owner + "-disk-9";
    ok("lvcreate", "-V", "4M", "-T", VmHarness.VG + "/" + VmHarness.THIN_POOL, "-n", guestDisk);
    ok("lvcreate", "-n", "snap_" + guestDisk + "_clone-of-backup", "-pr", "-s",
        VmHarness.VG + "/" + guestDisk);

    String other = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 4 * MIB,
        Optional.empty());
    plugin.freeImage(other);
    assertEquals(List.of("kept"), plugin.listSnapshots(Optional.of(source)).stream()
        .map(snap -> snap.id().snapName()).toList());
    assertEquals(List.of("clone-of-backup"), plugin.listSnapshots(Optional.of(guestDisk))
        .stream().map(snap -> snap.id().snapName()).toList());
  }

  /** The part of a vgcfgbackup file that describes one LV, up to its first segment. */
  private static String lvMetadata(String vgMetadata, String lv) {
    int start = vgMetadata.indexOf("\t" + lv + " {");
    assertTrue(start >= 0, lv + " not in the VG metadata");
    int end = vgMetadata.indexOf("segment1 {", start);
    return vgMetadata.substring(start, end);
  }

  @Test
  void sizesAreExtentRoundedAndReportedAsLvmHasThem() {
    long extent = Long.parseLong(ok("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o",
        "vg_extent_size", VmHarness.VG).stdoutText().strip());
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 1,
        Optional.empty());
    assertEquals(extent, plugin.volumeSizeInfo(volname).sizeBytes());
    assertEquals(extent, lv(volname, "lv_size").path("lv_size").asLong());
    assertEquals(2 * extent, plugin.volumeResize(volname, extent + 1));
    assertEquals(2 * extent, lv(volname, "lv_size").path("lv_size").asLong());
  }

  @Test
  void statusAgreesWithLvs() throws Exception {
    long owner = newOwner();
    plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 40 * MIB, Optional.empty());
    PoolStatus status = plugin.status();
    JsonNode lvs = JSON.readTree(ok("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", "lv_name,lv_size,pool_lv,data_percent,metadata_percent,lv_metadata_size",
        VmHarness.VG).stdoutText()).path("report").get(0).path("lv");
    Map<String, JsonNode> byName = new HashMap<>();
    long provisioned = 0;
    for (JsonNode row : lvs) {
      byName.put(row.path("lv_name").asText(), row);
      if (row.path("pool_lv").asText().equals(VmHarness.THIN_POOL)) {
        provisioned += row.path("lv_size").asLong();
      }
    }
    JsonNode pool = byName.get(VmHarness.THIN_POOL);
    long total = pool.path("lv_size").asLong();
    long used = percentOf(pool.path("data_percent").asText(), total);
    long metaSize = pool.path("lv_metadata_size").asLong();
    long metaUsed = percentOf(pool.path("metadata_percent").asText(), metaSize);
    assertEquals(total, status.totalBytes());
    assertEquals(used, status.usedBytes());
    assertEquals(total - used, status.availableBytes());
    assertEquals(provisioned, status.provisionedBytes());
    assertEquals(metaSize, status.metadataTotalBytes().orElseThrow());
    assertEquals(metaUsed, status.metadataUsedBytes().orElseThrow());
    assertEquals(Math.max(0, 2 * total - provisioned), status.allocatableBytes(),
        "overcommit 2.0, both usage levels far below 90 % / 80 %");
    System.out.printf("status %s; lvs: pool %d B, data %s %%, metadata %s %% of %d B, "
            + "thin LVs %d B%n", status, total, pool.path("data_percent").asText(),
        pool.path("metadata_percent").asText(), metaSize, provisioned);
  }

  private static long percentOf(String percent, long bytes) {
    return new BigDecimal(percent).multiply(BigDecimal.valueOf(bytes))
        .divide(BigDecimal.valueOf(100), 0, RoundingMode.HALF_UP).longValueExact();
  }

  @Test
  void snapshotsSkipActivationAndAreActivatedWithK() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 4 * MIB,
        Optional.empty());
    plugin.volumeSnapshot(volname, "s1", Optional.empty());
    String snapLv = "snap_" + volname + "_s1";
    String attr = lv(snapLv, "lv_attr").path("lv_attr").asText();
    assertEquals('k', attr.charAt(9), attr);
    assertEquals('-', attr.charAt(4), "not active: " + attr);

    plugin.activateVolume(volname, Optional.of("s1"));
    assertEquals('a', lv(snapLv, "lv_attr").path("lv_attr").asText().charAt(4));
    ok("blockdev", "--getsize64", plugin.path(volname, Optional.of("s1")).toString());
    plugin.deactivateVolume(volname, Optional.of("s1"));
    assertEquals('-', lv(snapLv, "lv_attr").path("lv_attr").asText().charAt(4));

    // a volume left inactive (e.g. after a reboot, autoactivation being off) is activated
    ok("lvchange", "-an", VmHarness.VG + "/" + volname);
    plugin.activateVolume(volname, Optional.empty());
    assertEquals('a', lv(volname, "lv_attr").path("lv_attr").asText().charAt(4));
    plugin.deactivateVolume(volname, Optional.empty());
    assertEquals('a', lv(volname, "lv_attr").path("lv_attr").asText().charAt(4),
        "ordinary volumes stay active, as in PVE");
  }

  @Test
  void thinClonesSurviveTheirSnapshotAndOrigin() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 16 * MIB,
        Optional.empty());
    writeData(volname, "independent");
    plugin.volumeSnapshot(volname, "s1", Optional.empty());
    long cloneOwner = newOwner();
    String clone = plugin.cloneImage(volname, cloneOwner, Optional.of("s1"), Optional.empty(),
        Optional.empty());
    plugin.freeImage(volname); // removes the snapshot first, then the origin
    assertEquals("independent", readData(clone));
  }

  @Test
  void createBaseRefusesAVolumeWithAHyphenatedSnapshot() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 4 * MIB,
        Optional.empty());
    plugin.volumeSnapshot(volname, "before-upgrade", Optional.empty());
    StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.createBase(volname));
    assertTrue(e.getMessage().contains("before-upgrade"), e.getMessage());
    assertFalse(plugin.parseVolname(volname).isBase());
  }

  @Test
  void aMountedVolumeIsNotFreed() {
    long owner = newOwner();
    String volname = plugin.allocImage(owner, ImageFormat.RAW, Optional.empty(), 16 * MIB,
        Optional.empty());
    writeData(volname, "busy");
    String mnt = mountPoint(volname);
    ok("mount", plugin.path(volname, Optional.empty()).toString(), mnt);
    try {
      StorageException e = fails(ErrorKind.PRECONDITION, () -> plugin.freeImage(volname));
      assertTrue(e.stderr().contains("in use"), e.describe());
    } finally {
      ok("umount", mnt);
    }
    plugin.freeImage(volname);
  }
}
