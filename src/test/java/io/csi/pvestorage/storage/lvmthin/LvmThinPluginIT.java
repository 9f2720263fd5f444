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
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.StoragePluginContract;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link LvmThinPlugin} on the real thin pool {@code pve/data} of the harness guest: the
 * generic cases of {@link StoragePluginContract} plus what is particular to LVM-thin (tags and
 * autoactivation on the real LV, extent rounding, status against {@code lvs}, activation skip,
 * independent thin snapshots, an LV in use).
 */
@ExtendWith(VmHarnessExtension.class)
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
    // lvs' autoactivation column reads empty either way on lvm2 2.03.16 (found by the control
    // below), so the VG metadata is asked instead: the LV's flags hold NOAUTOACTIVATE
    String plain = "vm-" + owner + "-plain";
    ok("lvcreate", "-V", "4M", "-T", VmHarness.VG + "/" + VmHarness.THIN_POOL, "-n", plain);
    ok("vgcfgbackup", "-f", "/tmp/vg-metadata", VmHarness.VG);
    String metadata = ok("cat", "/tmp/vg-metadata").stdoutText();
    assertTrue(lvMetadata(metadata, volname).contains("NOAUTOACTIVATE"), lvMetadata(metadata, volname));
    assertFalse(lvMetadata(metadata, plain).contains("NOAUTOACTIVATE"),
        "the control without lvchange: " + lvMetadata(metadata, plain));
    assertEquals('a', row.path("lv_attr").asText().charAt(4), "active after alloc: " + row);
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
