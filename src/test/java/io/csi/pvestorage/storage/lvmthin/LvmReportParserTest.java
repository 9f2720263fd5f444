package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.lvmthin.LvAttr.VolumeType;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** {@link LvmReportParser} on lvs output recorded from lvm2 2.03.16 in the harness VM. */
class LvmReportParserTest {

  private static List<LogicalVolume> parse(String fixture) {
    Fixture f = Fixture.load("lvm", "2.03.16", fixture);
    assertEquals(0, f.exitCode());
    return LvmReportParser.parse(f.stdoutText());
  }

  private static Map<String, LogicalVolume> byName(List<LogicalVolume> lvs) {
    return lvs.stream().collect(Collectors.toMap(LogicalVolume::name, Function.identity()));
  }

  @Test
  void theArgvIsThePluginsOwn() {
    assertEquals(LvmCommands.lvs("pve").argv(),
        Fixture.load("lvm", "2.03.16", "plugin-lvs-volumes").argv());
  }

  @Test
  void emptyPool() {
    List<LogicalVolume> lvs = parse("plugin-lvs-empty-pool");
    assertEquals(1, lvs.size());
    LogicalVolume pool = lvs.get(0);
    assertEquals("pve", pool.vg());
    assertEquals("data", pool.name());
    assertEquals(4294967296L, pool.sizeBytes());
    assertEquals(VolumeType.THIN_POOL, pool.attr().volumeType());
    assertTrue(pool.attr().active());
    assertEquals(Optional.empty(), pool.pool());
    assertEquals(Optional.of(new BigDecimal("0.00")), pool.dataPercent());
    assertEquals(OptionalLong.of(0), pool.dataUsedBytes());
    assertEquals(OptionalLong.of(4194304), pool.metadataSizeBytes());
    assertEquals(OptionalLong.of(471020), pool.metadataUsedBytes(), "11.23 % of 4 MiB");
    assertEquals(List.of(), pool.tags());
    assertEquals(Optional.of(Instant.ofEpochSecond(1795546565L)), pool.ctime());
    assertEquals(OptionalLong.of(4194304), pool.extentSizeBytes());
  }

  @Test
  void poolWithVolumesSnapshotClonesBaseAndAnInactiveVolume() {
    Map<String, LogicalVolume> lvs = byName(parse("plugin-lvs-volumes"));
    assertEquals(List.of("base-402-disk-0", "data", "snap_vm-400-disk-0_before-upgrade",
        "vm-400-disk-0", "vm-400-disk-1", "vm-401-disk-0", "vm-403-disk-0", "vm-404-disk-0"),
        lvs.keySet().stream().sorted().toList());

    LogicalVolume volume = lvs.get("vm-400-disk-0");
    assertTrue(volume.isThinVolumeIn("data"));
    assertEquals(1073741824L, volume.sizeBytes());
    assertTrue(volume.attr().writable() && volume.attr().active());
    assertFalse(volume.attr().activationSkip());
    // several tags, comma-separated by LVM (sorted by it), with '=', '/', '.' inside
    assertEquals(List.of(
        "pve-storage.csi.io/name=pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a",
        "pve-storage.csi.io/pv-name=pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a",
        "pve-storage.csi.io/pvc-name=data.db-0",
        "pve-storage.csi.io/pvc-namespace=team-a"), volume.tags());
    assertEquals(Optional.of(new VolumeMetadata("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a",
        Optional.of("team-a"), Optional.of("data.db-0"),
        Optional.of("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a"))), LvTags.decode(volume.tags()));

    // a CSI name with a comma, spaces and quotes went in as b64; '/' and '=' stayed plain
    LogicalVolume odd = lvs.get("vm-400-disk-1");
    assertEquals(Optional.of(new VolumeMetadata("import, from \"vm 7\"", Optional.of("team-a"),
        Optional.of("claim/with=chars"), Optional.empty())), LvTags.decode(odd.tags()));
    assertEquals(8388608L, odd.sizeBytes(), "4097 KiB requested, rounded up to 2 extents");

    LogicalVolume snapshot = lvs.get("snap_vm-400-disk-0_before-upgrade");
    assertEquals(Optional.of("vm-400-disk-0"), snapshot.origin());
    assertEquals("Vri---tz-k", snapshot.attr().text());
    assertFalse(snapshot.attr().writable());
    assertTrue(snapshot.attr().activationSkip());
    assertFalse(snapshot.attr().active());
    assertEquals(Optional.empty(), snapshot.dataPercent(), "inactive: LVM reports no usage");
    assertEquals(OptionalLong.empty(), snapshot.dataUsedBytes());

    LogicalVolume clone = lvs.get("vm-401-disk-0");
    assertEquals(Optional.of("snap_vm-400-disk-0_before-upgrade"), clone.origin());
    assertTrue(clone.attr().writable() && clone.attr().active());
    assertFalse(clone.attr().activationSkip(), "-kn cleared the skip flag");

    LogicalVolume base = lvs.get("base-402-disk-0");
    assertEquals("Vri---tz-k", base.attr().text(), "read-only, skipped, inactive");
    assertEquals(Optional.of("base-402-disk-0"), lvs.get("vm-403-disk-0").origin());

    LogicalVolume inactive = lvs.get("vm-404-disk-0");
    assertFalse(inactive.attr().active());
    assertTrue(inactive.attr().writable());
    assertFalse(inactive.attr().activationSkip());
    assertEquals(OptionalLong.empty(), inactive.dataUsedBytes());
  }

  @Test
  void olderColumnListWithoutExtentSize() {
    Map<String, LogicalVolume> lvs = byName(parse("lvs-volumes-snapshot-clone-inactive"));
    assertEquals(5, lvs.size());
    assertEquals(OptionalLong.empty(), lvs.get("data").extentSizeBytes());
    assertEquals(List.of("csi.k8s.io/pvc=ns1.claim-a", "pve-csi/fs=ext4"),
        lvs.get("vm-100-disk-0").tags());
    assertEquals(OptionalLong.of(34574487L), lvs.get("vm-100-disk-0").dataUsedBytes(),
        "3.22 % of 1 GiB");
  }

  @Test
  void missingVolumeReportIsEmpty() {
    Fixture f = Fixture.load("lvm", "2.03.16", "plugin-lvs-missing-vg");
    assertEquals(List.of(), LvmReportParser.parse(f.stdoutText()));
  }

  @Test
  void garbageIsAnInternalErrorQuotingTheText() {
    StorageException e = assertThrows(StorageException.class,
        () -> LvmReportParser.parse("  Volume group \"x\" not found"));
    assertEquals(ErrorKind.INTERNAL, e.kind());
    assertTrue(e.getMessage().contains("Volume group"), e.getMessage());

    StorageException row = assertThrows(StorageException.class, () -> LvmReportParser.parse(
        "{\"report\":[{\"lv\":[{\"vg_name\":\"pve\",\"lv_name\":\"x\",\"lv_size\":\"12k\","
            + "\"lv_attr\":\"Vwi-a-tz--\"}]}]}"));
    assertTrue(row.getMessage().contains("12k"), row.getMessage());
    assertThrows(StorageException.class, () -> LvmReportParser.parse("{}"));
  }

  /**
   * The autoactivation report as lvm2 2.03.16 prints it with {@code --binary} (fixtures recorded
   * before and after {@code lvchange --setautoactivation n}), and what cannot tell.
   */
  @Test
  void autoactivationIsReadFromTheBinaryColumn() {
    Fixture on = Fixture.load("lvm", "2.03.16", "plugin-lvs-autoactivation-on");
    assertEquals(LvmCommands.autoactivation("pve", "vm-410-pvc-keep").argv(), on.argv());
    assertEquals(Optional.of(true), LvmReportParser.autoactivation(on.stdoutText()));
    assertEquals(Optional.of(false), LvmReportParser.autoactivation(
        Fixture.load("lvm", "2.03.16", "plugin-lvs-autoactivation-off").stdoutText()));
    assertEquals(Optional.empty(), LvmReportParser.autoactivation(
        Fixture.load("lvm", "2.03.16", "plugin-lvs-autoactivation-missing").stdoutText()),
        "no row");
    assertEquals(Optional.empty(), LvmReportParser.autoactivation(
        "{\"report\":[{\"lv\":[{\"lv_name\":\"x\", \"lv_autoactivation\":\"enabled\"}]}]}"),
        "the column without --binary: not this parser's to guess");
    assertThrows(StorageException.class, () -> LvmReportParser.autoactivation("no report"));
  }
}
