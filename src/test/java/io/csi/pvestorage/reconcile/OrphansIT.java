package io.csi.pvestorage.reconcile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The orphan check on real LVM-thin, zvols and datasets in the VM, against the fabric8 mock API
 * server in CRUD mode: a bound volume with a snapshot that has its content, a volume without PV,
 * a snapshot without content, a PV whose volume is not there, a volume whose PV appears during the
 * grace period, a volume without the driver's record (a PVE guest disk) and, on ZFS, a deleted
 * volume kept for its snapshot. The first pass finds exactly the orphans; the pass one grace
 * period later, with clean-up on, deletes the volume without PV and the snapshot without content
 * from the pool and nothing else. The clock is moved instead of waited for.
 */
@ExtendWith(VmHarnessExtension.class)
@EnableKubernetesMockClient(crud = true)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
@ResourceLock(GuestResources.ZPOOL)
class OrphansIT {

  private static final String DRIVER = "pve-storage.csi.io";
  private static final String NODE = "node-a";
  private static final Duration GRACE = Duration.ofHours(1);
  private static final long OWNER = 917;
  private static final long SIZE = 8L << 20;

  /** The three kinds of volume, each on its storage. */
  enum Backend {
    LVM_THIN("local-lvm", ImageFormat.RAW, "vm"),
    ZVOL("local-zfs", ImageFormat.RAW, "vm"),
    DATASET("local-zfs", ImageFormat.SUBVOL, "subvol");

    final String storage;
    final ImageFormat format;
    final String prefix;

    Backend(String storage, ImageFormat format, String prefix) {
      this.storage = storage;
      this.format = format;
      this.prefix = prefix;
    }

    StoragePlugin plugin(GuestCommandRunner guest) {
      CommonOptions common = new CommonOptions(Set.of(), false, Set.of("images", "rootdir"), 0,
          CapacityPolicy.DEFAULT);
      return this == LVM_THIN
          ? new LvmThinPlugin(new LvmThinStorage(storage, VmHarness.VG, VmHarness.THIN_POOL,
              common), guest)
          : new ZfsPoolPlugin(new ZfsPoolStorage(storage, VmHarness.ZFS_DATASET,
              OptionalLong.of(16384), true, Optional.empty(), common), guest);
    }

    String name(String what) {
      return prefix + "-" + OWNER + "-" + what;
    }
  }

  KubernetesMockServer server;
  KubernetesClient client;

  @TempDir Path lockDir;

  private StoragePlugin plugin;
  private LocalStorageLock lock;

  @ParameterizedTest
  @EnumSource(Backend.class)
  void findsEachKindAndCleansOnlyWhatHasNoKubernetesObject(Backend backend,
      GuestCommandRunner guest) {
    plugin = backend.plugin(guest);
    String storage = backend.storage;
    // the pool's creation times are real ones; the reconciler's clock runs a day ahead of them
    FakeClock clock = new FakeClock(Instant.now().plus(Duration.ofDays(1)));
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, new LockObserver() {});
    NodeStorages storages = new NodeStorages(NODE, List.of(plugin), lock, Duration.ofSeconds(30),
        clock);

    String bound = alloc(backend, "pvc-bound");
    pv("pvc-bound", storage + ":" + bound);
    plugin.volumeSnapshot(bound, "snap-kept", Optional.of(VolumeMetadata.of("snapshot-kept")));
    content("snapcontent-kept", storage + ":" + bound + "@snap-kept");
    plugin.volumeSnapshot(bound, "snap-lost", Optional.of(VolumeMetadata.of("snapshot-lost")));
    String lost = alloc(backend, "pvc-lost");
    String late = alloc(backend, "pvc-late");
    String guestDisk = plugin.allocImage(OWNER, backend.format, Optional.of(backend.name(
        "disk-9")), SIZE, Optional.empty());
    pv("pvc-gone", storage + ":" + backend.name("pvc-gone"));
    String deleted = null;
    if (backend != Backend.LVM_THIN) {
      deleted = alloc(backend, "pvc-deleted");
      plugin.volumeSnapshot(deleted, "snap-of-deleted",
          Optional.of(VolumeMetadata.of("snapshot-of-deleted")));
      content("snapcontent-of-deleted", storage + ":" + deleted + "@snap-of-deleted");
      plugin.freeImage(deleted); // hidden: its CSI snapshot still needs it
    }

    OrphanReconciler reconciler = new OrphanReconciler(storages, new InFlight(),
        new KubernetesClusterView(client, DRIVER),
        new KubernetesPvEvents(client, DRIVER + "/node", NODE, clock),
        new OrphanReconciler.Settings(GRACE, true));
    OrphanReport first = reconciler.reconcile(true);

    assertEquals(Optional.empty(), first.storages().get(0).error());
    List<String> volumes = mine(first, OrphanKind.VOLUME_WITHOUT_PV);
    assertEquals(List.of(storage + ":" + late, storage + ":" + lost), volumes);
    assertEquals(List.of(storage + ":" + backend.name("pvc-gone")),
        mine(first, OrphanKind.PV_WITHOUT_VOLUME));
    assertEquals(List.of(storage + ":" + bound + "@snap-lost"),
        mine(first, OrphanKind.SNAPSHOT_WITHOUT_CONTENT));
    Orphan lostVolume = first.orphans().stream()
        .filter(o -> o.id().equals(storage + ":" + lost)).findFirst().orElseThrow();
    assertEquals(Optional.of("apps/data-pvc-lost"), lostVolume.claim());
    assertTrue(lostVolume.sizeBytes() >= SIZE, lostVolume.toString());
    if (deleted != null) {
      String hiddenName = deleted;
      List<Orphan> hidden = first.orphans().stream()
          .filter(o -> o.kind() == OrphanKind.HIDDEN_VOLUME
              && o.note().contains("deleted volume " + hiddenName + ",")).toList();
      assertEquals(1, hidden.size(), first.orphans().toString());
      assertTrue(hidden.get(0).note().contains("1 snapshot(s)"), hidden.get(0).note());
    }
    assertTrue(first.orphans().stream().noneMatch(o -> o.id().contains(guestDisk)),
        "a volume without the driver's record is never reported");
    assertTrue(first.orphans().stream().noneMatch(o -> o.id().endsWith(bound)
        || o.id().endsWith("@snap-kept")));

    pv("pvc-late", storage + ":" + late); // its PV arrives during the grace period
    clock.advance(GRACE);
    OrphanReport second = reconciler.reconcile(true);

    assertEquals(List.of(storage + ":" + bound + "@snap-lost", storage + ":" + lost),
        second.storages().get(0).cleaned().stream().map(Orphan::id).sorted().toList());
    Set<String> left = Set.copyOf(plugin.listImages(OptionalLong.of(OWNER), Optional.empty())
        .stream().map(i -> i.volid().volname()).toList());
    assertFalse(left.contains(lost), left.toString());
    assertTrue(left.containsAll(List.of(bound, late, guestDisk)), left.toString());
    List<String> snaps = plugin.listSnapshots(Optional.of(bound)).stream()
        .map(s -> s.id().snapName()).toList();
    assertEquals(List.of("snap-kept"), snaps);
    if (deleted != null) {
      String was = deleted;
      assertTrue(plugin.listHidden().stream().anyMatch(h -> h.volname().equals(was)),
          "a hidden volume is never cleaned");
    }
    assertTrue(mine(reconciler.reconcile(true), OrphanKind.VOLUME_WITHOUT_PV).isEmpty());
  }

  @AfterEach
  void removeEverything() {
    if (plugin != null) {
      for (SnapshotInfo s : plugin.listSnapshots(Optional.empty())) {
        if (plugin.parseVolname(s.id().volume().volname()).owner() == OWNER) {
          plugin.volumeSnapshotDelete(s.id().volume().volname(), s.id().snapName());
        }
      }
      for (ImageInfo image : plugin.listImages(OptionalLong.of(OWNER), Optional.empty())) {
        plugin.freeImage(image.volid().volname());
      }
      assertEquals(List.of(), plugin.listHidden().stream()
          .filter(h -> plugin.parseVolname(h.volname()).owner() == OWNER).toList(),
          "nothing of this test is left in the pool");
    }
    if (lock != null) {
      lock.close();
    }
  }

  private String alloc(Backend backend, String pvName) {
    return plugin.allocImage(OWNER, backend.format, Optional.of(backend.name(pvName)), SIZE,
        Optional.of(new VolumeMetadata(pvName, Optional.of("apps"),
            Optional.of("data-" + pvName), Optional.of(pvName))));
  }

  /** This test's IDs of one kind, sorted (the pool may hold other tests' leftovers). */
  private static List<String> mine(OrphanReport report, OrphanKind kind) {
    return report.orphans().stream().filter(o -> o.kind() == kind)
        .map(Orphan::id).filter(id -> id.contains("-" + OWNER + "-")).sorted().toList();
  }

  private void pv(String name, String handle) {
    client.persistentVolumes().resource(new PersistentVolumeBuilder()
        .withNewMetadata().withName(name).withUid("uid-" + name).endMetadata()
        .withNewSpec()
        .withCapacity(Map.of("storage", new Quantity("8Mi")))
        .withPersistentVolumeReclaimPolicy("Delete")
        .withNewClaimRef().withNamespace("apps").withName("data-" + name).endClaimRef()
        .withNewCsi().withDriver(DRIVER).withVolumeHandle(handle).endCsi()
        .withNewNodeAffinity().withNewRequired().addNewNodeSelectorTerm()
        .addNewMatchExpression().withKey("pve-storage.csi.io/node").withOperator("In")
        .withValues(NODE).endMatchExpression().endNodeSelectorTerm().endRequired()
        .endNodeAffinity()
        .endSpec()
        .withNewStatus().withPhase("Bound").endStatus()
        .build()).create();
  }

  private void content(String name, String handle) {
    GenericKubernetesResource content = new GenericKubernetesResourceBuilder()
        .withApiVersion("snapshot.storage.k8s.io/v1").withKind("VolumeSnapshotContent")
        .withNewMetadata().withName(name).endMetadata().build();
    content.setAdditionalProperty("spec", Map.of("driver", DRIVER, "deletionPolicy", "Delete"));
    content.setAdditionalProperty("status", Map.of("snapshotHandle", handle));
    client.genericKubernetesResources(KubernetesClusterView.CONTENTS).resource(content).create();
  }
}
