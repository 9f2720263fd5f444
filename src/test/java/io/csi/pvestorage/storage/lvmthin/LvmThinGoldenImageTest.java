package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Golden images on LVM-thin ({@link LvmThinPlugin#goldenImageOwn}, {@link
 * LvmThinPlugin#listGoldenImages}) against a scripted runner with the exact argv. The pool is
 * the recorded {@code plugin-lvs-keep-before} (vm-410-pvc-keep with a CSI name, the guest disk
 * vm-100-disk-9 without), plus base rows written here in lvm2's report format.
 */
class LvmThinGoldenImageTest {

  private static final long MIB = 1L << 20;
  private static final List<String> LVS = LvmCommands.lvs("pve").argv();
  private static final VolumeMetadata GOLDEN = VolumeMetadata.of("snapshot-golden");

  private final FakeCommandRunner lvm = new FakeCommandRunner();
  private final LvmThinPlugin plugin = new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve",
      "data", new CommonOptions(Set.of(), false, Set.of("images"), 0, CapacityPolicy.DEFAULT)),
      lvm, d -> { });

  @AfterEach
  void everyScriptedCommandRan() {
    lvm.verifyAllConsumed();
  }

  private void recordedPool(String... extraRows) {
    Fixture f = Fixture.load("lvm", "2.03.16", "plugin-lvs-keep-before");
    String out = f.stdoutText();
    for (String row : extraRows) {
      out = out.replace("\"lv\": [", "\"lv\": [" + row + ",");
    }
    lvm.expect(f.argv()).thenExit(f.exitCode(), out, f.stderrText());
  }

  /** One LV row as {@code lvs --reportformat json} prints it. */
  private static String row(String name, String origin, String tags) {
    return "{\"vg_name\":\"pve\", \"vg_extent_size\":\"4194304\", \"lv_name\":\"" + name
        + "\", \"lv_size\":\"67108864\", \"lv_attr\":\"Vri---tz-k\", \"pool_lv\":\"data\", "
        + "\"origin\":\"" + origin + "\", \"data_percent\":\"\", \"metadata_percent\":\"\", "
        + "\"lv_metadata_size\":\"\", \"lv_tags\":\"" + tags + "\", \"lv_time\":\"1796637200\"}";
  }

  private static final String BASE_ROW = row("base-410-disk-0", "vm-410-pvc-keep",
      "pve-storage.csi.io/golden-source=vm-410-pvc-keep,pve-storage.csi.io/name=snapshot-golden");

  private static SnapshotInfo golden(String base, String source) {
    return new SnapshotInfo(new SnapshotId(new VolumeId("local-lvm", base), "golden"), 64 * MIB,
        Instant.ofEpochSecond(1796637200L), Optional.of(GOLDEN),
        Optional.of(new VolumeId("local-lvm", source)));
  }

  private static StorageException fails(ErrorKind kind, Executable call) {
    StorageException e = assertThrows(StorageException.class, call);
    assertEquals(kind, e.kind(), e.describe());
    return e;
  }

  @Test
  void theBaseIsOneReadOnlyTaggedThinSnapshotNamedAfterThePvesNextDiskNumber() {
    recordedPool();
    lvm.expect("lvcreate", "-n", "base-410-disk-0", "-pr", "-ky", "-s", "pve/vm-410-pvc-keep",
        "--addtag", "pve-storage.csi.io/name=snapshot-golden",
        "--addtag", "pve-storage.csi.io/golden-source=vm-410-pvc-keep").thenSucceed();
    lvm.expect(LvmCommands.lvsOne("pve", "base-410-disk-0").argv())
        .thenSucceed("{\"report\": [{\"lv\": [" + BASE_ROW + "]}]}");
    assertEquals(golden("base-410-disk-0", "vm-410-pvc-keep"),
        plugin.goldenImageOwn("vm-410-pvc-keep", GOLDEN));
    assertEquals(3, lvm.commands().size(), "no rename, no lvchange: nothing a crash can cut");
  }

  @Test
  void aRetryFindsTheBaseByItsCsiNameAndRunsNothing() {
    recordedPool(BASE_ROW);
    assertEquals(golden("base-410-disk-0", "vm-410-pvc-keep"),
        plugin.goldenImageOwn("vm-410-pvc-keep", GOLDEN));
    assertEquals(List.of(LVS), lvm.commands().stream().map(Command::argv).toList());
  }

  @Test
  void theNextBaseTakesTheNextNumberOfTheOwner() {
    recordedPool(BASE_ROW);
    lvm.expect("lvcreate", "-n", "base-410-disk-1", "-pr", "-ky", "-s", "pve/vm-410-pvc-keep",
        "--addtag", "pve-storage.csi.io/name=other",
        "--addtag", "pve-storage.csi.io/golden-source=vm-410-pvc-keep").thenSucceed();
    lvm.expect(LvmCommands.lvsOne("pve", "base-410-disk-1").argv())
        .thenSucceed("{\"report\": [{\"lv\": [" + row("base-410-disk-1", "vm-410-pvc-keep",
            "pve-storage.csi.io/golden-source=vm-410-pvc-keep,pve-storage.csi.io/name=other")
            + "]}]}");
    assertEquals(SnapshotId.parse("local-lvm:base-410-disk-1@golden"),
        plugin.goldenImageOwn("vm-410-pvc-keep", VolumeMetadata.of("other")).id());
  }

  @Test
  void refusalsComeFromTheListingAloneBeforeAnyChange() {
    recordedPool();
    StorageException e = fails(ErrorKind.PRECONDITION,
        () -> plugin.goldenImageOwn("vm-100-disk-9", GOLDEN));
    assertTrue(e.getMessage().contains("not made a base of"), e.getMessage());
    recordedPool();
    fails(ErrorKind.NOT_FOUND, () -> plugin.goldenImageOwn("vm-499-disk-0", GOLDEN));
    recordedPool(row("base-410-disk-0", "", "pve-storage.csi.io/name=x"));
    fails(ErrorKind.PRECONDITION, () -> plugin.goldenImageOwn("base-410-disk-0", GOLDEN));
    assertEquals(List.of(LVS, LVS, LVS), lvm.commands().stream().map(Command::argv).toList());
  }

  @Test
  void listedWithTheirRecordedSourceAfterTheSourceIsGoneButNeverAPveTemplate() {
    // base-410-disk-0: the source was deleted (LVM dropped the origin; the tag keeps it);
    // base-410-disk-1: made by an earlier attempt without the tag, the origin answers;
    // base-420-disk-0: a PVE template without CSI name, not a golden image.
    recordedPool(row("base-410-disk-0", "",
            "pve-storage.csi.io/golden-source=vm-499-gone,pve-storage.csi.io/name=snapshot-golden"),
        row("base-410-disk-1", "vm-410-pvc-keep", "pve-storage.csi.io/name=snapshot-golden"),
        row("base-420-disk-0", "", ""));
    assertEquals(List.of(golden("base-410-disk-0", "vm-499-gone"),
        golden("base-410-disk-1", "vm-410-pvc-keep")), plugin.listGoldenImages());
  }

  @Test
  void aSourceNameThatLvmCannotTagPlainlyRoundTrips() {
    String tag = LvTags.goldenSourceTag("vm-1-a:b");
    assertEquals("pve-storage.csi.io/golden-source.b64=dm0tMS1hOmI", tag);
    assertEquals(Optional.of("vm-1-a:b"), LvTags.goldenSource(List.of("x", tag)));
    assertEquals(Optional.empty(), LvTags.goldenSource(List.of("pve-storage.csi.io/name=a")));
  }
}
