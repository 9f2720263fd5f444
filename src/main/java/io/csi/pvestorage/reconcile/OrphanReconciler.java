package io.csi.pvestorage.reconcile;

import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.HiddenVolume;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Compares, per storage of this node, what the pool holds with this driver's ownership record
 * against the PersistentVolumes and VolumeSnapshotContents of this driver, and reports the four
 * {@link OrphanKind}s. Optionally deletes volumes without PV and snapshots without content.
 *
 * <h2>What is compared</h2>
 *
 * Only volumes and snapshots that carry the driver's CSI name are looked at: a PVE guest disk
 * ({@code vm-100-disk-0} without the record) is never reported nor touched. A volume is
 * accounted for when any PV of this driver (on any node: storage IDs repeat across nodes, and a
 * volume some PV names is never called an orphan) has its volume handle; a base also when a
 * VolumeSnapshotContent's handle names it (golden images). A PV is checked for its volume only
 * when its node affinity names this node and its storage is served here.
 *
 * <h2>Races</h2>
 *
 * <ul>
 *   <li>The cluster is read <b>before</b> the pools. A volume created after the cluster read is
 *       young (below), and a PV whose volume is deleted after it is already released (the
 *       provisioner deletes volumes of released PVs only), which is not checked.
 *   <li>A volume or snapshot is reported only when older than the grace period, by the time the
 *       pool records (LVM {@code lv_time}, ZFS {@code creation}), else by when this process first
 *       saw it: a CreateVolume whose PV is not saved yet is not an orphan.
 *   <li>An API read that fails (or is incomplete) reports nothing and deletes nothing: it is
 *       never read as "no PVs". A storage whose listing fails is skipped alone.
 *   <li>Clean-up deletes an object only when it has been an orphan, pass after pass, for the
 *       whole grace period as seen by this process, and still is at deletion time: under the
 *       storage lock and the in-flight guard of the CSI calls, the API is read again and the
 *       object is listed again (same CSI name, still old enough). A PV or content created in
 *       between keeps it.
 * </ul>
 *
 * <p>Passes are serialised ({@code synchronized}): the periodic one and those the {@code client
 * orphans} command asks for never overlap.
 */
public final class OrphanReconciler {

  private static final System.Logger LOG = System.getLogger(OrphanReconciler.class.getName());

  /**
   * How the reconciler behaves.
   *
   * @param grace the least age of a volume or snapshot before it counts as an orphan, and the
   *     least time it must have been one before clean-up deletes it
   * @param cleanup whether volumes without PV and snapshots without content are deleted
   */
  public record Settings(Duration grace, boolean cleanup) {
    public Settings {
      Objects.requireNonNull(grace, "grace");
      if (grace.isNegative()) {
        throw new IllegalArgumentException("grace must not be negative: " + grace);
      }
    }
  }

  /** Running totals, read by the metrics. */
  public static final class Counters {
    private final Map<String, AtomicLong> values = new ConcurrentHashMap<>();

    private void add(String key) {
      values.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
    }

    /** Passes of {@code storage} that failed: source {@code api} or {@code storage}. */
    public long failures(String storage, String source) {
      return get("failure/" + storage + "/" + source);
    }

    /** Orphans of {@code storage} and {@code kind} that clean-up deleted. */
    public long cleanups(String storage, OrphanKind kind) {
      return get("cleanup/" + storage + "/" + kind.label());
    }

    private long get(String key) {
      AtomicLong value = values.get(key);
      return value == null ? 0 : value.get();
    }
  }

  private final NodeStorages storages;
  private final InFlight inFlight;
  private final ClusterView cluster;
  private final PvEvents events;
  private final Settings settings;
  private final Counters counters = new Counters();
  /** When this process first saw each object without its Kubernetes object, by key. */
  private final Map<String, Instant> orphanSince = new HashMap<>();
  private volatile Optional<OrphanReport> last = Optional.empty();
  /** Per storage, the result of its last pass that read both the API and the storage. */
  private final Map<String, Complete> lastComplete = new ConcurrentHashMap<>();

  /**
   * A storage's last complete result.
   *
   * @param at when its pass started
   * @param result what it found
   */
  public record Complete(Instant at, OrphanReport.StorageResult result) {}

  public OrphanReconciler(NodeStorages storages, InFlight inFlight, ClusterView cluster,
      PvEvents events, Settings settings) {
    this.storages = Objects.requireNonNull(storages, "storages");
    this.inFlight = Objects.requireNonNull(inFlight, "inFlight");
    this.cluster = Objects.requireNonNull(cluster, "cluster");
    this.events = Objects.requireNonNull(events, "events");
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  public Counters counters() {
    return counters;
  }

  /** The report of the last pass that compared anything or failed to; empty before the first. */
  public Optional<OrphanReport> last() {
    return last;
  }

  /**
   * The last complete result of a storage (what the metrics show: a failed pass keeps it), empty
   * before its first.
   */
  public Optional<Complete> lastComplete(String storage) {
    return Optional.ofNullable(lastComplete.get(storage));
  }

  /**
   * One pass: read the cluster, list every storage, report; with clean-up on and {@code
   * mayClean}, delete what qualifies. The periodic pass cleans and emits Events; a pass for the
   * {@code client} only reports.
   */
  public synchronized OrphanReport reconcile(boolean mayClean) {
    Instant now = storages.clock().instant();
    ClusterObjects objects;
    try {
      objects = cluster.read();
    } catch (ClusterView.ClusterReadException e) {
      for (StoragePlugin plugin : storages.all()) {
        counters.add("failure/" + plugin.storeId() + "/api");
      }
      LOG.log(Level.WARNING, "orphan check skipped, nothing reported or deleted: "
          + e.getMessage());
      OrphanReport report = new OrphanReport(storages.nodeId(), now,
          Optional.of(e.getMessage()), List.of());
      last = Optional.of(report);
      return report;
    }
    Accounting accounting = new Accounting(objects);
    Set<String> stillOrphans = new HashSet<>();
    List<OrphanReport.StorageResult> results = new ArrayList<>();
    for (StoragePlugin plugin : storages.all()) {
      OrphanReport.StorageResult result = reconcile(plugin, accounting, now, mayClean,
          stillOrphans);
      results.add(result);
      if (result.error().isEmpty()) {
        lastComplete.put(plugin.storeId(), new Complete(now, result));
      }
    }
    orphanSince.keySet().retainAll(stillOrphans);
    OrphanReport report = new OrphanReport(storages.nodeId(), now, Optional.empty(), results);
    last = Optional.of(report);
    return report;
  }

  private OrphanReport.StorageResult reconcile(StoragePlugin plugin, Accounting accounting,
      Instant now, boolean mayClean, Set<String> stillOrphans) {
    String storage = plugin.storeId();
    List<ImageInfo> images;
    List<SnapshotInfo> snapshots;
    List<HiddenVolume> hidden;
    try {
      images = plugin.listImages(java.util.OptionalLong.empty(), Optional.empty());
      snapshots = plugin.listSnapshots(Optional.empty());
      hidden = plugin.listHidden();
    } catch (StorageException e) {
      counters.add("failure/" + storage + "/storage");
      LOG.log(Level.WARNING, "orphan check of storage " + storage + " skipped: "
          + e.describe());
      return new OrphanReport.StorageResult(storage, plugin.type(), Optional.of(e.describe()),
          List.of(), List.of());
    }
    List<Orphan> found = new ArrayList<>();
    List<Orphan> deletable = new ArrayList<>();
    Set<String> present = new HashSet<>();
    for (ImageInfo image : images) {
      String key = volumeKey(plugin, image.volid());
      present.add(key);
      if (image.metadata().isEmpty() || accounting.accountsFor(plugin, image, key)) {
        continue;
      }
      String since = "volume/" + key;
      stillOrphans.add(since);
      Instant firstSeen = orphanSince.computeIfAbsent(since, k -> now);
      Instant born = known(image.ctime()).orElse(firstSeen);
      if (age(born, now).compareTo(settings.grace()) < 0) {
        continue;
      }
      VolumeMetadata m = image.metadata().get();
      Orphan orphan = new Orphan(storage, OrphanKind.VOLUME_WITHOUT_PV, image.volid().toString(),
          image.sizeBytes(), known(image.ctime()), claim(m), m.pvName(),
          Optional.of(m.csiName()), "");
      found.add(orphan);
      if (age(firstSeen, now).compareTo(settings.grace()) >= 0) {
        deletable.add(orphan);
      }
    }
    for (ClusterObjects.Pv pv : accounting.objects().volumes()) {
      Optional<VolumeId> id = parseVolumeId(pv.volumeHandle());
      if (!pv.settled() || !pv.node().equals(Optional.of(storages.nodeId())) || id.isEmpty()
          || !id.get().storeId().equals(storage) || present.contains(volumeKey(plugin, id.get()))) {
        continue;
      }
      Orphan orphan = new Orphan(storage, OrphanKind.PV_WITHOUT_VOLUME, pv.volumeHandle(),
          pv.capacityBytes(), pv.created(), pv.claim(), Optional.of(pv.name()), Optional.empty(),
          "the volume is not in storage " + storage + " on node " + storages.nodeId());
      found.add(orphan);
      if (mayClean) {
        events.volumeMissing(pv, "volume " + pv.volumeHandle() + " of this PersistentVolume is "
            + "not in storage " + storage + " on node " + storages.nodeId() + "; the driver "
            + "never recreates it: restore the data or delete the PV");
      }
    }
    for (SnapshotInfo snap : snapshots) {
      if (snap.metadata().isEmpty() || accounting.snapshotKeys().contains(
          snapshotKey(plugin, snap.id()))) {
        continue;
      }
      String since = "snapshot/" + snapshotKey(plugin, snap.id());
      stillOrphans.add(since);
      Instant firstSeen = orphanSince.computeIfAbsent(since, k -> now);
      Optional<Instant> ctime = known(Optional.of(snap.ctime()));
      if (age(ctime.orElse(firstSeen), now).compareTo(settings.grace()) < 0) {
        continue;
      }
      Orphan orphan = new Orphan(storage, OrphanKind.SNAPSHOT_WITHOUT_CONTENT,
          snap.id().toString(), snap.sizeBytes(), ctime, Optional.empty(), Optional.empty(),
          snap.metadata().map(VolumeMetadata::csiName), "");
      found.add(orphan);
      if (age(firstSeen, now).compareTo(settings.grace()) >= 0) {
        deletable.add(orphan);
      }
    }
    for (HiddenVolume h : hidden) {
      found.add(new Orphan(storage, OrphanKind.HIDDEN_VOLUME, storage + ":" + h.name(),
          h.usedBytes(), known(Optional.of(h.ctime())),
          h.metadata().flatMap(OrphanReconciler::claim), h.metadata().flatMap(VolumeMetadata::pvName),
          h.metadata().map(VolumeMetadata::csiName),
          "deleted volume " + h.volname() + ", kept for " + h.snapshots() + " snapshot(s) and "
              + h.clones() + " clone(s)"));
    }
    found.sort(Comparator.comparing(Orphan::kind).thenComparing(Orphan::id));
    List<Orphan> cleaned = new ArrayList<>();
    if (settings.cleanup() && mayClean) {
      for (Orphan orphan : deletable) {
        if (clean(plugin, orphan)) {
          cleaned.add(orphan);
          counters.add("cleanup/" + storage + "/" + orphan.kind().label());
        }
      }
    }
    return new OrphanReport.StorageResult(storage, plugin.type(), Optional.empty(), found,
        cleaned);
  }

  /**
   * Deletes one orphan if it still is one: under the in-flight guard and the storage lock, the
   * API is read again and the object listed again. False when it was kept (or the attempt
   * failed, which is logged and retried by the next pass).
   */
  private boolean clean(StoragePlugin plugin, Orphan orphan) {
    boolean volume = orphan.kind() == OrphanKind.VOLUME_WITHOUT_PV;
    String csiName = orphan.csiName().orElseThrow();
    try (InFlight.Claim byName = inFlight.enter(volume ? "volume name" : "snapshot name", csiName);
        InFlight.Claim byId = inFlight.enter(volume ? "volume" : "snapshot", orphan.id())) {
      return storages.locked(plugin, volume ? "orphan-free" : "orphan-delsnap", orphan.id(),
          () -> volume ? freeIfOrphan(plugin, orphan, csiName)
              : deleteSnapshotIfOrphan(plugin, orphan, csiName));
    } catch (StorageException | ClusterView.ClusterReadException e) {
      LOG.log(Level.WARNING, "orphan clean-up: " + orphan.id() + " kept for now: "
          + (e instanceof StorageException s ? s.describe() : e.getMessage()));
      return false;
    }
  }

  private boolean freeIfOrphan(StoragePlugin plugin, Orphan orphan, String csiName) {
    VolumeId id = VolumeId.parse(orphan.id());
    Accounting fresh = new Accounting(cluster.read());
    Optional<ImageInfo> image = plugin.listImages(java.util.OptionalLong.empty(),
        Optional.of(List.of(id))).stream().filter(i -> i.volid().equals(id)).findFirst();
    if (image.isEmpty() || !image.get().metadata().map(VolumeMetadata::csiName)
        .equals(Optional.of(csiName))) {
      return false;
    }
    if (fresh.accountsFor(plugin, image.get(), volumeKey(plugin, id))) {
      LOG.log(Level.INFO, "orphan clean-up: volume " + id + " has a PersistentVolume now; kept");
      return false;
    }
    plugin.freeImage(id.volname());
    LOG.log(Level.WARNING, "orphan clean-up: deleted volume " + id + " (CSI name " + csiName
        + ", claim " + orphan.claim().orElse("unknown") + ", " + orphan.sizeBytes()
        + " bytes): no PersistentVolume has named it for the grace period of "
        + settings.grace().toSeconds() + " s");
    return true;
  }

  private boolean deleteSnapshotIfOrphan(StoragePlugin plugin, Orphan orphan, String csiName) {
    SnapshotId id = SnapshotId.parse(orphan.id());
    Accounting fresh = new Accounting(cluster.read());
    Optional<SnapshotInfo> snap = plugin.listSnapshots(Optional.of(id.volume().volname()))
        .stream().filter(s -> s.id().equals(id)).findFirst();
    if (snap.isEmpty() || !snap.get().metadata().map(VolumeMetadata::csiName)
        .equals(Optional.of(csiName))) {
      return false;
    }
    if (fresh.snapshotKeys().contains(snapshotKey(plugin, id))) {
      LOG.log(Level.INFO, "orphan clean-up: snapshot " + id
          + " has a VolumeSnapshotContent now; kept");
      return false;
    }
    plugin.volumeSnapshotDelete(id.volume().volname(), id.snapName());
    LOG.log(Level.WARNING, "orphan clean-up: deleted snapshot " + id + " (CSI name " + csiName
        + "): no VolumeSnapshotContent has named it for the grace period of "
        + settings.grace().toSeconds() + " s");
    return true;
  }

  /** The PV and content handles of one cluster read, as keys of this node's storages. */
  private final class Accounting {
    private final ClusterObjects objects;
    private final Set<String> rawVolumeHandles = new HashSet<>();
    private final Set<String> rawSnapshotHandles = new HashSet<>();
    private final Map<String, Set<String>> volumeKeys = new HashMap<>();
    private Set<String> snapshotKeys;

    Accounting(ClusterObjects objects) {
      this.objects = objects;
      objects.volumes().forEach(pv -> rawVolumeHandles.add(pv.volumeHandle()));
      rawSnapshotHandles.addAll(objects.snapshotHandles());
    }

    ClusterObjects objects() {
      return objects;
    }

    boolean accountsFor(StoragePlugin plugin, ImageInfo image, String key) {
      if (volumeKeys(plugin).contains(key)) {
        return true;
      }
      // A base is what a golden-image VolumeSnapshotContent names.
      return isBase(plugin, image.volid()) && snapshotKeys().stream()
          .anyMatch(s -> s.equals(key) || s.startsWith(key + "@"));
    }

    private Set<String> volumeKeys(StoragePlugin plugin) {
      return volumeKeys.computeIfAbsent(plugin.storeId(), s -> keysOf(plugin));
    }

    private Set<String> keysOf(StoragePlugin plugin) {
      Set<String> keys = new HashSet<>();
      for (String handle : rawVolumeHandles) {
        parseVolumeId(handle).filter(id -> id.storeId().equals(plugin.storeId()))
            .ifPresent(id -> keys.add(volumeKey(plugin, id)));
      }
      return keys;
    }

    Set<String> snapshotKeys() {
      if (snapshotKeys == null) {
        snapshotKeys = computeSnapshotKeys();
      }
      return snapshotKeys;
    }

    private Set<String> computeSnapshotKeys() {
      Set<String> keys = new HashSet<>();
      for (String handle : rawSnapshotHandles) {
        keys.add(handle);
        try {
          SnapshotId id = SnapshotId.parse(handle);
          storages.find(id.volume().storeId())
              .ifPresent(plugin -> keys.add(snapshotKey(plugin, id)));
        } catch (StorageException e) {
          // a base's handle (no '@'), or not one of ours: kept as it is
          parseVolumeId(handle).ifPresent(id -> storages.find(id.storeId())
              .ifPresent(plugin -> keys.add(volumeKey(plugin, id))));
        }
      }
      return keys;
    }
  }

  /**
   * A volume's identity in a storage: {@code <storage>:<volume name>}, with a ZFS linked clone's
   * {@code base-.../} prefix dropped, so that an ID issued before or after the base was known
   * compares equal.
   */
  private static String volumeKey(StoragePlugin plugin, VolumeId id) {
    try {
      return id.storeId() + ":" + plugin.parseVolname(id.volname()).name();
    } catch (StorageException e) {
      return id.toString();
    }
  }

  private static String snapshotKey(StoragePlugin plugin, SnapshotId id) {
    return volumeKey(plugin, id.volume()) + "@" + id.snapName();
  }

  private static boolean isBase(StoragePlugin plugin, VolumeId id) {
    try {
      return plugin.parseVolname(id.volname()).isBase();
    } catch (StorageException e) {
      return false;
    }
  }

  private static Optional<VolumeId> parseVolumeId(String handle) {
    try {
      return Optional.of(VolumeId.parse(handle));
    } catch (StorageException e) {
      return Optional.empty();
    }
  }

  private static Optional<String> claim(VolumeMetadata m) {
    return m.pvcNamespace().isPresent() && m.pvcName().isPresent()
        ? Optional.of(m.pvcNamespace().get() + "/" + m.pvcName().get())
        : Optional.empty();
  }

  /** A creation time the tool really reported (LVM snapshots without one show the epoch). */
  private static Optional<Instant> known(Optional<Instant> time) {
    return time.filter(t -> t.isAfter(Instant.EPOCH));
  }

  private static Duration age(Instant born, Instant now) {
    return Duration.between(born, now);
  }
}
