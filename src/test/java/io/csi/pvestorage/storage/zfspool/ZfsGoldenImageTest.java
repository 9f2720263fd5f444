package io.csi.pvestorage.storage.zfspool;

import static io.csi.pvestorage.storage.zfspool.Rows.snap;
import static io.csi.pvestorage.storage.zfspool.Rows.subvol;
import static io.csi.pvestorage.storage.zfspool.Rows.zvol;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Golden images on ZFS against a scripted runner with the exact argv: the base is a read-only
 * clone of a snapshot of the source with {@code @__base__}, every crash point between the three
 * commands converges on retry, and a delete of the base or of its clones never loses or blocks
 * anything ({@link ZfsDeletion}).
 */
class ZfsGoldenImageTest {

  private static final String POOL = ZfsPoolPluginTest.POOL;
  private static final List<String> LIST_2 = ZfsPoolPluginTest.LIST_2;
  private static final long MIB = 1L << 20;
  private static final VolumeMetadata GOLDEN = VolumeMetadata.of("snap-g");
  private static final String TEMP = "rpool/data/vm-0-a@clone-of-base-0-disk-0";

  private final FakeCommandRunner zfs = new FakeCommandRunner();
  private final ZfsPoolPlugin plugin = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", POOL,
      OptionalLong.of(16384), false, Optional.empty(), new CommonOptions(Set.of(), false,
          Set.of("images"), 0, new CapacityPolicy(2.0, 90, 80))),
      zfs, new ZfsPoolPlugin.Options(Duration.ofSeconds(60), Duration.ofSeconds(10),
          Duration.ofSeconds(1), 6, Duration.ofSeconds(1)), Clock.systemUTC(), d -> { });

  @AfterEach
  void allScriptedCommandsRan() {
    zfs.verifyAllConsumed();
  }

  private static Rows pool() {
    return Rows.of().pool(POOL, 1L << 20, 100L << 30);
  }

  private static Rows.Row source() {
    return zvol("rpool/data/vm-0-a", 8 * MIB).csiName("pvc-a").guid("10");
  }

  /** The pool once the base is complete: source, its snapshot, the base and {@code @__base__}. */
  private static Rows complete() {
    return pool().add(source())
        .add(snap(TEMP, 3).csiName("pvc-a").clones("rpool/data/base-0-disk-0"))
        .add(base())
        .add(snap("rpool/data/base-0-disk-0@__base__", 5).volsize(Long.toString(8 * MIB))
            .csiName("snap-g").guid("51"));
  }

  private static Rows.Row base() {
    return zvol("rpool/data/base-0-disk-0", 8 * MIB).csiName("snap-g").origin(TEMP).guid("50")
        .creation(1795545800L);
  }

  private static SnapshotInfo golden(String source) {
    return new SnapshotInfo(SnapshotId.parse("local-zfs:base-0-disk-0@golden"), 8 * MIB,
        Instant.ofEpochSecond(1795545800L), Optional.of(GOLDEN),
        Optional.of(new VolumeId("local-zfs", source)));
  }

  private static StorageException fails(ErrorKind kind, Executable call) {
    StorageException e = assertThrows(StorageException.class, call);
    assertEquals(kind, e.kind(), e.describe());
    return e;
  }

  @Test
  void aZvolBaseIsAReadOnlyCloneOfASnapshotOfTheSourceWithBase() {
    zfs.expect(LIST_2).thenSucceed(pool().add(source()).text())
        .expect("zfs", "snapshot", TEMP).thenSucceed();
    cloneThenBaseThenListing();
    assertEquals(golden("vm-0-a"), plugin.goldenImageOwn("vm-0-a", GOLDEN));
  }

  /** The steps after the source's snapshot: the base clone, its @__base__, the listing. */
  private void cloneThenBaseThenListing() {
    zfs.expect("zfs", "clone", "-o", "pve-storage.csi.io:csi-name=snap-g", "-o", "readonly=on",
            TEMP, "rpool/data/base-0-disk-0").thenSucceed()
        .expect("zfs", "snapshot", "rpool/data/base-0-disk-0@__base__").thenSucceed()
        .expect(LIST_2).thenSucceed(complete().text());
  }

  @Test
  void aDatasetBaseKeepsTheSourcesRefquotaOnTheBaseAndOnBothSnapshots() {
    String temp = "rpool/data/subvol-0-d@clone-of-basevol-0-disk-0";
    zfs.expect(LIST_2).thenSucceed(pool().add(subvol("rpool/data/subvol-0-d", 8 * MIB)
            .csiName("pvc-d")).text())
        .expect("zfs", "snapshot", "-o", "pve-storage:refquota=8388608", temp).thenSucceed()
        .expect("zfs", "clone", "-o", "pve-storage.csi.io:csi-name=snap-g", "-o", "readonly=on",
            "-o", "refquota=8388608", temp, "rpool/data/basevol-0-disk-0").thenSucceed()
        .expect("zfs", "snapshot", "-o", "pve-storage:refquota=8388608",
            "rpool/data/basevol-0-disk-0@__base__").thenSucceed()
        .expect(LIST_2).thenSucceed(pool()
            .add(subvol("rpool/data/subvol-0-d", 8 * MIB).csiName("pvc-d"))
            .add(snap(temp, 3).recordedRefquota(8 * MIB).clones("rpool/data/basevol-0-disk-0"))
            .add(subvol("rpool/data/basevol-0-disk-0", 8 * MIB).csiName("snap-g").origin(temp))
            .add(snap("rpool/data/basevol-0-disk-0@__base__", 5).recordedRefquota(8 * MIB))
            .text());
    SnapshotInfo made = plugin.goldenImageOwn("subvol-0-d", GOLDEN);
    assertEquals(SnapshotId.parse("local-zfs:basevol-0-disk-0@golden"), made.id());
    assertEquals(8 * MIB, made.sizeBytes());
    assertEquals(new VolumeId("local-zfs", "subvol-0-d"), made.sourceVolume());
  }

  @Test
  void aCrashAfterTheSourceSnapshotReusesIt() {
    zfs.expect(LIST_2).thenSucceed(pool().add(source()).add(snap(TEMP, 3).csiName("pvc-a"))
            .text());
    cloneThenBaseThenListing();
    assertEquals(golden("vm-0-a"), plugin.goldenImageOwn("vm-0-a", GOLDEN));
  }

  @Test
  void aCrashAfterTheCloneOnlyTakesBaseAndTheHalfMadeBaseIsNotListed() {
    Rows halfMade = pool().add(source())
        .add(snap(TEMP, 3).csiName("pvc-a").clones("rpool/data/base-0-disk-0")).add(base());
    zfs.expect(LIST_2).thenSucceed(halfMade.text());
    assertEquals(List.of(), plugin.listGoldenImages());
    zfs.expect(LIST_2).thenSucceed(halfMade.text())
        .expect("zfs", "snapshot", "rpool/data/base-0-disk-0@__base__").thenSucceed()
        .expect(LIST_2).thenSucceed(complete().text());
    assertEquals(golden("vm-0-a"), plugin.goldenImageOwn("vm-0-a", GOLDEN));
  }

  @Test
  void aRetryOfACompleteBaseIsAnsweredFromOneListing() {
    zfs.expect(LIST_2).thenSucceed(complete().text());
    assertEquals(golden("vm-0-a"), plugin.goldenImageOwn("vm-0-a", GOLDEN));
    assertEquals(1, zfs.commands().size());
  }

  @Test
  void refusalsComeFromTheListingAloneBeforeAnyChange() {
    Rows rows = complete().add(zvol("rpool/data/vm-100-disk-0", MIB));
    zfs.expect(LIST_2).thenSucceed(rows.text());
    assertTrue(fails(ErrorKind.PRECONDITION, () -> plugin.goldenImageOwn("vm-100-disk-0",
        VolumeMetadata.of("x"))).getMessage().contains("not made a base of"));
    zfs.expect(LIST_2).thenSucceed(rows.text());
    fails(ErrorKind.NOT_FOUND, () -> plugin.goldenImageOwn("vm-0-gone", VolumeMetadata.of("x")));
    zfs.expect(LIST_2).thenSucceed(rows.text());
    fails(ErrorKind.PRECONDITION, () -> plugin.goldenImageOwn("base-0-disk-0",
        VolumeMetadata.of("x")));
    assertEquals(3, zfs.commands().size());
  }

  @Test
  void listedWithTheNameItsDeletedSourceHadButNeverAPveTemplate() {
    zfs.expect(LIST_2).thenSucceed(pool()
        .add(zvol("rpool/data/csi-deleted-10", 8 * MIB).csiName("pvc-a")
            .deletedVolname("vm-0-a").guid("10"))
        .add(snap("rpool/data/csi-deleted-10@__deleted_3", 3).clones("rpool/data/base-0-disk-0"))
        .add(base().origin("rpool/data/csi-deleted-10@__deleted_3"))
        .add(snap("rpool/data/base-0-disk-0@__base__", 5).volsize(Long.toString(8 * MIB)))
        .add(zvol("rpool/data/base-100-disk-0", MIB))
        .add(snap("rpool/data/base-100-disk-0@__base__", 6)).text());
    assertEquals(List.of(golden("vm-0-a")), plugin.listGoldenImages());
  }

  /** DeleteSnapshot with a linked clone alive: the base is hidden, its name free at once. */
  @Test
  void deletingABaseWithACloneHidesItAndTombstonesBase() {
    zfs.expect(LIST_2).thenSucceed(pool().add(source())
            .add(snap(TEMP, 3).csiName("pvc-a").clones("rpool/data/base-0-disk-0"))
            .add(base())
            .add(snap("rpool/data/base-0-disk-0@__base__", 5).csiName("snap-g").guid("51")
                .clones("rpool/data/vm-0-c"))
            .add(zvol("rpool/data/vm-0-c", 8 * MIB).csiName("pvc-c")
                .origin("rpool/data/base-0-disk-0@__base__")).text())
        .expect("zfs", "rename", "rpool/data/base-0-disk-0@__base__",
            "rpool/data/base-0-disk-0@__deleted_51").thenSucceed()
        .expect("zfs", "set", "pve-storage.csi.io:deleted-volname=base-0-disk-0",
            "refreservation=none", "rpool/data/base-0-disk-0").thenSucceed()
        .expect("zfs", "rename", "rpool/data/base-0-disk-0", "rpool/data/csi-deleted-50")
        .thenSucceed();
    plugin.freeOwnImage("base-0-disk-0");
  }

  /**
   * DeleteVolume of the last clone: the clone, then the hidden base it kept, then the source's
   * snapshot that only the base needed, all in that one call.
   */
  @Test
  void deletingTheLastCloneDestroysTheHiddenBaseAndTheSourceSnapshot() {
    zfs.expect(LIST_2).thenSucceed(pool().add(source())
            .add(snap(TEMP, 3).csiName("pvc-a").clones("rpool/data/csi-deleted-50"))
            .add(zvol("rpool/data/csi-deleted-50", 8 * MIB).csiName("snap-g")
                .deletedVolname("base-0-disk-0").origin(TEMP).guid("50"))
            .add(snap("rpool/data/csi-deleted-50@__deleted_51", 5).csiName("snap-g")
                .clones("rpool/data/vm-0-c"))
            .add(zvol("rpool/data/vm-0-c", 8 * MIB).csiName("pvc-c")
                .origin("rpool/data/csi-deleted-50@__deleted_51")).text())
        .expect(ZfsCommands.destroyRecursively("rpool/data/vm-0-c")).thenSucceed()
        .expect(ZfsCommands.destroyRecursively("rpool/data/csi-deleted-50")).thenSucceed()
        .expect(ZfsCommands.destroySnapshot(TEMP)).thenSucceed();
    plugin.freeOwnImage("vm-0-c");
  }

  /** A base without clones goes at once, and so does the source snapshot it pinned. */
  @Test
  void deletingABaseWithoutClonesDestroysItAtOnce() {
    zfs.expect(LIST_2).thenSucceed(complete().text())
        .expect("zfs", "set", "pve-storage.csi.io:deleted-volname=base-0-disk-0",
            "refreservation=none", "rpool/data/base-0-disk-0").thenSucceed()
        .expect("zfs", "rename", "rpool/data/base-0-disk-0", "rpool/data/csi-deleted-50")
        .thenSucceed()
        .expect(ZfsCommands.destroyRecursively("rpool/data/csi-deleted-50")).thenSucceed()
        .expect(ZfsCommands.destroySnapshot(TEMP)).thenSucceed();
    plugin.freeOwnImage("base-0-disk-0");
  }
}
