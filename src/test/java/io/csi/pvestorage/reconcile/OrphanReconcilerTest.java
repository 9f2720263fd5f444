package io.csi.pvestorage.reconcile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.MemoryStoragePlugin;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.HiddenVolume;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reconciler against the fabric8 mock API server in CRUD mode (real PV and
 * VolumeSnapshotContent objects, read through {@link KubernetesClusterView}) and the in-memory
 * plugin: every kind is found, nothing healthy is reported, the races (young volumes, a PV made
 * during the grace period or right before the delete, an unreadable API) report and delete
 * nothing, and clean-up is off unless asked for.
 */
@EnableKubernetesMockClient(crud = true)
class OrphanReconcilerTest {

  private static final String DRIVER = "pve-storage.csi.io";
  private static final String NODE = "node-a";
  private static final Duration GRACE = Duration.ofHours(1);
  private static final long GIB = 1L << 30;
  private static final Instant START = Instant.parse("2026-12-01T10:00:00Z");

  KubernetesMockServer server;
  KubernetesClient client;

  @TempDir Path lockDir;

  private final FakeClock clock = new FakeClock(START);
  private final java.util.logging.Logger quietMockServer =
      java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");
  private final MemoryStoragePlugin lvm = new MemoryStoragePlugin("local-lvm", "lvmthin");
  private final MemoryStoragePlugin zfs = new MemoryStoragePlugin("local-zfs", "zfspool");
  private final InFlight inFlight = new InFlight();
  private LocalStorageLock lock;
  private NodeStorages storages;

  @BeforeEach
  void start() {
    quietMockServer.setLevel(java.util.logging.Level.WARNING);
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, new LockObserver() {});
    lvm.lockCheck(() -> lock.currentHandle("local-lvm").isPresent());
    zfs.lockCheck(() -> lock.currentHandle("local-zfs").isPresent());
    storages = new NodeStorages(NODE, List.of(lvm, zfs), lock, Duration.ofSeconds(5), clock);
    lvm.now(START.minus(Duration.ofDays(2)));
    zfs.now(START.minus(Duration.ofDays(2)));
  }

  @AfterEach
  void stop() {
    lock.close();
  }

  private OrphanReconciler reconciler(boolean cleanup) {
    return reconciler(new KubernetesClusterView(client, DRIVER), cleanup);
  }

  private OrphanReconciler reconciler(ClusterView view, boolean cleanup) {
    return new OrphanReconciler(storages, inFlight, view,
        new KubernetesPvEvents(client, DRIVER + "/node", NODE, clock),
        new OrphanReconciler.Settings(GRACE, cleanup));
  }

  // ---- the cluster ------------------------------------------------------------------------

  private void pv(String name, String handle, String node, String phase, String policy) {
    PersistentVolume pv = new PersistentVolumeBuilder()
        .withNewMetadata().withName(name).withUid("uid-" + name)
        .withCreationTimestamp(START.minus(Duration.ofDays(1)).toString()).endMetadata()
        .withNewSpec()
        .withCapacity(Map.of("storage", new Quantity("2Gi")))
        .withPersistentVolumeReclaimPolicy(policy)
        .withNewClaimRef().withNamespace("apps").withName("data-" + name).endClaimRef()
        .withNewCsi().withDriver(DRIVER).withVolumeHandle(handle).endCsi()
        .withNewNodeAffinity().withNewRequired().addNewNodeSelectorTerm()
        .addNewMatchExpression().withKey("pve-storage.csi.io/node").withOperator("In")
        .withValues(node).endMatchExpression().endNodeSelectorTerm().endRequired()
        .endNodeAffinity()
        .endSpec()
        .withNewStatus().withPhase(phase).endStatus()
        .build();
    client.persistentVolumes().resource(pv).create();
  }

  private void pv(String name, String handle) {
    pv(name, handle, NODE, "Bound", "Delete");
  }

  private void content(String name, String driver, String statusHandle, String sourceHandle) {
    GenericKubernetesResourceBuilder b = new GenericKubernetesResourceBuilder()
        .withApiVersion("snapshot.storage.k8s.io/v1").withKind("VolumeSnapshotContent")
        .withNewMetadata().withName(name).endMetadata();
    GenericKubernetesResource content = b.build();
    Map<String, Object> spec = new java.util.LinkedHashMap<>();
    spec.put("driver", driver);
    spec.put("deletionPolicy", "Delete");
    if (sourceHandle != null) {
      spec.put("source", Map.of("snapshotHandle", sourceHandle));
    }
    content.setAdditionalProperty("spec", spec);
    if (statusHandle != null) {
      content.setAdditionalProperty("status", Map.of("snapshotHandle", statusHandle,
          "readyToUse", true));
    }
    client.genericKubernetesResources(KubernetesClusterView.CONTENTS).resource(content).create();
  }

  // ---- the pools --------------------------------------------------------------------------

  private static Optional<VolumeMetadata> made(String pvName) {
    return Optional.of(new VolumeMetadata(pvName, Optional.of("apps"),
        Optional.of("data-" + pvName), Optional.of(pvName)));
  }

  /** A bound volume, a snapshot with its content, and a PVE guest disk: nothing to report. */
  private void healthy() {
    lvm.put("vm-0-pvc-bound", ImageFormat.RAW, GIB, made("pvc-bound"));
    pv("pvc-bound", "local-lvm:vm-0-pvc-bound");
    lvm.putSnapshot("vm-0-pvc-bound", "snap-ok", Optional.of(VolumeMetadata.of("snapshot-ok")));
    content("snapcontent-ok", DRIVER, "local-lvm:vm-0-pvc-bound@snap-ok", null);
    zfs.put("vm-100-disk-0", ImageFormat.RAW, 8 * GIB, Optional.empty()); // PVE's, no record
    zfs.putSnapshot("vm-100-disk-0", "before-upgrade", Optional.empty());
    zfs.put("subvol-0-pvc-pre", ImageFormat.SUBVOL, GIB, made("pvc-pre"));
    pv("pvc-pre", "local-zfs:subvol-0-pvc-pre");
    zfs.putSnapshot("subvol-0-pvc-pre", "snap-pre", Optional.of(VolumeMetadata.of("snap-pre")));
    content("snapcontent-pre", DRIVER, null, "local-zfs:subvol-0-pvc-pre@snap-pre");
  }

  private static List<String> ids(OrphanReport report, OrphanKind kind) {
    return report.orphans().stream().filter(o -> o.kind() == kind).map(Orphan::id).toList();
  }

  @Test
  void healthyVolumesSnapshotsAndPveDisksAreNeverReported() {
    healthy();
    OrphanReport report = reconciler(false).reconcile(true);
    assertEquals(Optional.empty(), report.error());
    assertEquals(List.of(), report.orphans());
    assertEquals(List.of("local-lvm", "local-zfs"),
        report.storages().stream().map(OrphanReport.StorageResult::storage).toList());
    assertEquals(List.of(), lvm.calls());
    assertEquals(List.of(), zfs.calls());
  }

  @Test
  void findsEveryKindWithWhatAnOperatorNeeds() {
    healthy();
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, 3 * GIB, made("pvc-lost"));               // (a)
    pv("pvc-gone", "local-lvm:vm-0-pvc-gone");                                          // (b)
    lvm.putSnapshot("vm-0-pvc-bound", "snap-lost",
        Optional.of(VolumeMetadata.of("snapshot-lost")));                               // (c)
    zfs.putHidden(new HiddenVolume("csi-deleted-77", "vm-0-pvc-old", 5 * GIB,
        START.minus(Duration.ofDays(3)), made("pvc-old"), 2, 1));                       // (d)

    OrphanReport report = reconciler(false).reconcile(true);

    assertEquals(List.of("local-lvm:vm-0-pvc-lost"), ids(report, OrphanKind.VOLUME_WITHOUT_PV));
    Orphan lost = report.orphans().get(0);
    assertEquals(3 * GIB, lost.sizeBytes());
    assertEquals(Optional.of("apps/data-pvc-lost"), lost.claim());
    assertEquals(Optional.of("pvc-lost"), lost.pvName());
    assertEquals(Optional.of(START.minus(Duration.ofDays(2))), lost.created());
    assertEquals(List.of("local-lvm:vm-0-pvc-gone"), ids(report, OrphanKind.PV_WITHOUT_VOLUME));
    Orphan gone = report.orphans().stream()
        .filter(o -> o.kind() == OrphanKind.PV_WITHOUT_VOLUME).findFirst().orElseThrow();
    assertEquals(2 * GIB, gone.sizeBytes());
    assertEquals(Optional.of("pvc-gone"), gone.pvName());
    assertEquals(Optional.of("apps/data-pvc-gone"), gone.claim());
    assertEquals(List.of("local-lvm:vm-0-pvc-bound@snap-lost"),
        ids(report, OrphanKind.SNAPSHOT_WITHOUT_CONTENT));
    assertEquals(List.of("local-zfs:csi-deleted-77"), ids(report, OrphanKind.HIDDEN_VOLUME));
    Orphan hidden = report.orphans().stream()
        .filter(o -> o.kind() == OrphanKind.HIDDEN_VOLUME).findFirst().orElseThrow();
    assertEquals(5 * GIB, hidden.sizeBytes());
    assertTrue(hidden.note().contains("vm-0-pvc-old") && hidden.note().contains("2 snapshot"),
        hidden.note());

    // (b) is an Event on the PV; nothing was changed in any pool
    List<Event> events = client.v1().events().inNamespace("default").list().getItems();
    assertEquals(1, events.size());
    assertEquals("PersistentVolume", events.get(0).getInvolvedObject().getKind());
    assertEquals("pvc-gone", events.get(0).getInvolvedObject().getName());
    assertEquals("VolumeMissing", events.get(0).getReason());
    assertEquals("Warning", events.get(0).getType());
    assertEquals(List.of(), lvm.calls());

    // the next pass counts on the same Event
    reconciler(false).reconcile(true);
    List<Event> again = client.v1().events().inNamespace("default").list().getItems();
    assertEquals(1, again.size());
    assertEquals(2, again.get(0).getCount());
  }

  @Test
  void pvsOfOtherNodesOtherDriversAndPvsBeingDeletedAreNotMissingVolumes() {
    pv("pvc-elsewhere", "local-lvm:vm-0-pvc-elsewhere", "node-b", "Bound", "Delete");
    pv("pvc-releasing", "local-lvm:vm-0-pvc-releasing", NODE, "Released", "Delete");
    pv("pvc-other-storage", "nfs-1:vm-0-pvc-x");
    PersistentVolume foreign = new PersistentVolumeBuilder().withNewMetadata()
        .withName("pvc-foreign").endMetadata().withNewSpec().withNewCsi()
        .withDriver("other.csi.io").withVolumeHandle("local-lvm:vm-0-pvc-foreign").endCsi()
        .endSpec().build();
    client.persistentVolumes().resource(foreign).create();
    // a retained, released PV whose volume is gone is still reported: nobody deletes it
    pv("pvc-retained", "local-lvm:vm-0-pvc-retained", NODE, "Released", "Retain");

    OrphanReport report = reconciler(false).reconcile(true);

    assertEquals(List.of("local-lvm:vm-0-pvc-retained"), ids(report,
        OrphanKind.PV_WITHOUT_VOLUME));
  }

  @Test
  void aVolumeOrSnapshotYoungerThanTheGracePeriodIsNotAnOrphanYet() {
    lvm.now(START.minus(Duration.ofMinutes(5)));
    lvm.put("vm-0-pvc-new", ImageFormat.RAW, GIB, made("pvc-new")); // its PV is being saved
    lvm.putSnapshot("vm-0-pvc-new", "snap-new", Optional.of(VolumeMetadata.of("snapshot-new")));
    OrphanReconciler reconciler = reconciler(true);

    assertEquals(List.of(), reconciler.reconcile(true).orphans());
    clock.advance(GRACE.minus(Duration.ofMinutes(10)));
    assertEquals(List.of(), reconciler.reconcile(true).orphans(), "55 minutes old");
    assertEquals(List.of(), lvm.calls());

    // without a PV for the whole grace period since this process first saw it: an orphan
    clock.advance(Duration.ofMinutes(10));
    OrphanReport later = reconciler.reconcile(true);
    assertEquals(List.of("local-lvm:vm-0-pvc-new"), ids(later, OrphanKind.VOLUME_WITHOUT_PV));
    assertEquals(List.of("local-lvm:vm-0-pvc-new@snap-new"),
        ids(later, OrphanKind.SNAPSHOT_WITHOUT_CONTENT));
    assertEquals(List.of("free vm-0-pvc-new", "delsnapshot vm-0-pvc-new@snap-new"),
        lvm.calls());
  }

  @Test
  void cleanUpIsOffByDefault() {
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, GIB, made("pvc-lost"));
    lvm.putSnapshot("vm-0-pvc-lost", "snap-lost", Optional.of(VolumeMetadata.of("s-lost")));
    OrphanReconciler reconciler = reconciler(false);
    for (int pass = 0; pass < 3; pass++) {
      reconciler.reconcile(true);
      clock.advance(GRACE.multipliedBy(2));
    }
    assertTrue(lvm.has("vm-0-pvc-lost"));
    assertTrue(lvm.hasSnapshot("vm-0-pvc-lost", "snap-lost"));
    assertEquals(List.of(), lvm.calls());
  }

  @Test
  void cleanUpDeletesOnlyWhatHasBeenAnOrphanForTheWholeGracePeriod() {
    healthy();
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, GIB, made("pvc-lost"));
    zfs.put("subvol-0-pvc-pre", ImageFormat.SUBVOL, GIB, made("pvc-pre")); // same as healthy
    zfs.putSnapshot("subvol-0-pvc-pre", "snap-lost", Optional.of(VolumeMetadata.of("s-lost")));
    pv("pvc-gone", "local-lvm:vm-0-pvc-gone");
    zfs.putHidden(new HiddenVolume("csi-deleted-77", "vm-0-pvc-old", GIB, START,
        Optional.of(VolumeMetadata.of("pvc-old")), 1, 0));
    OrphanReconciler reconciler = reconciler(true);

    OrphanReport first = reconciler.reconcile(true);
    assertEquals(4, first.orphans().size(), first.orphans().toString());
    assertEquals(List.of(), lvm.calls(), "first seen now: kept for the grace period");
    assertEquals(List.of(), zfs.calls());

    clock.advance(GRACE);
    OrphanReport second = reconciler.reconcile(true);

    assertEquals(List.of("free vm-0-pvc-lost"), lvm.calls());
    assertEquals(List.of("delsnapshot subvol-0-pvc-pre@snap-lost"), zfs.calls());
    assertFalse(lvm.has("vm-0-pvc-lost"));
    assertTrue(lvm.has("vm-0-pvc-bound") && zfs.has("vm-100-disk-0")
        && zfs.hasSnapshot("vm-100-disk-0", "before-upgrade")
        && zfs.hasSnapshot("subvol-0-pvc-pre", "snap-pre"));
    assertEquals(List.of("local-lvm:vm-0-pvc-lost", "local-zfs:subvol-0-pvc-pre@snap-lost"),
        second.storages().stream().flatMap(s -> s.cleaned().stream()).map(Orphan::id).toList());
    assertEquals(1, reconciler.counters().cleanups("local-lvm", OrphanKind.VOLUME_WITHOUT_PV));
    assertEquals(1, reconciler.counters().cleanups("local-zfs",
        OrphanKind.SNAPSHOT_WITHOUT_CONTENT));
    // a PV whose volume is missing is never "fixed", a hidden volume never touched
    assertTrue(client.persistentVolumes().withName("pvc-gone").get() != null);
    assertEquals(List.of("local-zfs:csi-deleted-77"), ids(second, OrphanKind.HIDDEN_VOLUME));
  }

  @Test
  void aPvCreatedDuringTheGracePeriodKeepsItsVolume() {
    lvm.put("vm-0-pvc-slow", ImageFormat.RAW, GIB, made("pvc-slow"));
    OrphanReconciler reconciler = reconciler(true);
    assertEquals(List.of("local-lvm:vm-0-pvc-slow"),
        ids(reconciler.reconcile(true), OrphanKind.VOLUME_WITHOUT_PV));

    pv("pvc-slow", "local-lvm:vm-0-pvc-slow");
    clock.advance(GRACE);
    assertEquals(List.of(), reconciler.reconcile(true).orphans());

    // and it does not become deletable at once if its PV goes away again: the grace restarts
    client.persistentVolumes().withName("pvc-slow").delete();
    clock.advance(Duration.ofMinutes(1));
    reconciler.reconcile(true);
    assertTrue(lvm.has("vm-0-pvc-slow"));
    assertEquals(List.of(), lvm.calls());
  }

  @Test
  void aPvCreatedRightBeforeTheDeleteKeepsItsVolume() {
    lvm.put("vm-0-pvc-race", ImageFormat.RAW, GIB, made("pvc-race"));
    lvm.putSnapshot("vm-0-pvc-race", "snap-race", Optional.of(VolumeMetadata.of("s-race")));
    KubernetesClusterView real = new KubernetesClusterView(client, DRIVER);
    AtomicInteger reads = new AtomicInteger();
    ClusterView racing = () -> {
      ClusterObjects objects = real.read();
      if (reads.incrementAndGet() == 2) { // the second pass has decided: now the PV appears
        pv("pvc-race", "local-lvm:vm-0-pvc-race");
        content("snapcontent-race", DRIVER, "local-lvm:vm-0-pvc-race@snap-race", null);
      }
      return objects;
    };
    OrphanReconciler reconciler = reconciler(racing, true);
    reconciler.reconcile(true);
    clock.advance(GRACE);

    OrphanReport report = reconciler.reconcile(true);

    assertEquals(2, report.orphans().size(), "decided on the read before the PV existed");
    assertTrue(reads.get() >= 3, "the API is read again under the lock before each delete");
    assertEquals(List.of(), report.storages().get(0).cleaned());
    assertEquals(List.of(), lvm.calls());
    assertTrue(lvm.has("vm-0-pvc-race") && lvm.hasSnapshot("vm-0-pvc-race", "snap-race"));
  }

  @Test
  void anApiThatCannotBeReadReportsAndDeletesNothing() {
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, GIB, made("pvc-lost"));
    KubernetesClient unreachable = new KubernetesClientBuilder().withConfig(
        new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("http://127.0.0.1:1")
            .withRequestRetryBackoffLimit(0).withConnectionTimeout(500).build()).build();
    try (unreachable) {
      OrphanReconciler reconciler = reconciler(
          new KubernetesClusterView(unreachable, DRIVER), true);
      for (int pass = 0; pass < 2; pass++) {
        OrphanReport report = reconciler.reconcile(true);
        assertTrue(report.error().orElseThrow().contains("cannot list PersistentVolumes"),
            report.error().toString());
        assertEquals(List.of(), report.storages());
        clock.advance(GRACE.multipliedBy(2));
      }
      assertEquals(2, reconciler.counters().failures("local-lvm", "api"));
      assertEquals(2, reconciler.counters().failures("local-zfs", "api"));
      assertTrue(reconciler.lastComplete("local-lvm").isEmpty());
    }
    assertEquals(List.of(), lvm.calls());
    assertTrue(lvm.has("vm-0-pvc-lost"));
  }

  @Test
  void aVolumeBusyWithACsiCallIsKeptForTheNextPass() {
    lvm.put("vm-0-pvc-busy", ImageFormat.RAW, GIB, made("pvc-busy"));
    OrphanReconciler reconciler = reconciler(true);
    reconciler.reconcile(true);
    clock.advance(GRACE);
    try (InFlight.Claim createVolume = inFlight.enter("volume name", "pvc-busy")) {
      assertEquals(List.of(), reconciler.reconcile(true).storages().get(0).cleaned());
    }
    assertTrue(lvm.has("vm-0-pvc-busy"));
    reconciler.reconcile(true);
    assertFalse(lvm.has("vm-0-pvc-busy"), "deleted by the next pass");
  }

  @Test
  void aPassForTheClientOnlyReports() {
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, GIB, made("pvc-lost"));
    pv("pvc-gone", "local-lvm:vm-0-pvc-gone");
    OrphanReconciler reconciler = reconciler(true);
    reconciler.reconcile(false);
    clock.advance(GRACE);
    OrphanReport report = reconciler.reconcile(false);
    assertEquals(2, report.orphans().size());
    assertTrue(lvm.has("vm-0-pvc-lost"));
    assertEquals(List.of(), client.v1().events().inNamespace("default").list().getItems());
  }

  @Test
  void aBaseNamedByAVolumeSnapshotContentIsAccountedFor() {
    lvm.put("base-0-golden", ImageFormat.RAW, GIB, made("snapshot-golden"));
    content("snapcontent-golden", DRIVER, "local-lvm:base-0-golden", null);
    assertEquals(List.of(), reconciler(false).reconcile(true).orphans());
  }
  /**
   * Issue 17: a golden image as CreateSnapshot makes it (ID {@code <storage>:<base>@golden},
   * named by its VolumeSnapshotContent) and a linked clone of it with its PV are healthy: none
   * is reported, pass after pass. Without its content, the same base is reported.
   */
  @Test
  void aGoldenImageAndItsCloneAreNeverOrphans() {
    lvm.lockCheck(() -> true);
    lvm.put("vm-0-pvc-src", ImageFormat.RAW, GIB, made("pvc-src"));
    pv("pvc-src", "local-lvm:vm-0-pvc-src");
    String golden = lvm.goldenImageOwn("vm-0-pvc-src", VolumeMetadata.of("snapshot-golden"))
        .id().toString();
    assertEquals("local-lvm:base-0-disk-0@golden", golden);
    content("snapcontent-golden", DRIVER, golden, null);
    lvm.put("vm-0-pvc-clone", ImageFormat.RAW, GIB, made("pvc-clone"));
    pv("pvc-clone", "local-lvm:vm-0-pvc-clone");
    OrphanReconciler reconciler = reconciler(false);
    assertEquals(List.of(), reconciler.reconcile(true).orphans());
    clock.advance(GRACE);
    assertEquals(List.of(), reconciler.reconcile(true).orphans());

    lvm.goldenImageOwn("vm-0-pvc-src", VolumeMetadata.of("snapshot-without-content"));
    clock.advance(GRACE);
    reconciler.reconcile(true);
    clock.advance(GRACE);
    assertEquals(List.of("local-lvm:base-0-disk-1"), reconciler.reconcile(true).orphans()
        .stream().map(Orphan::id).toList());
  }
}
