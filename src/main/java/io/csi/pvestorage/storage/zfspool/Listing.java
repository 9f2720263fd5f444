package io.csi.pvestorage.storage.zfspool;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One {@code zfs list} of a storage's pool dataset ({@link ZfsCommands#list}), with the lookups
 * the plugin needs and the storage's naming rules: which rows are volumes, which snapshots the
 * API lists, how a dataset's name becomes a volume name. Rows keep zfs's order.
 *
 * @param pool the pool dataset, e.g. {@code rpool/data}
 * @param rows every row of the listing
 * @param byName the rows by full name
 * @param snapshotsByDataset each dataset's snapshots, oldest first (by creation txg): built once,
 *     so that listing every volume's snapshots is one pass over the rows, not one per volume
 *     (with 667 volumes and 2 snapshots each that was 1.3 million row visits per listing)
 */
record Listing(String pool, List<ZfsDataset> rows, Map<String, ZfsDataset> byName,
    Map<String, List<ZfsDataset>> snapshotsByDataset) {

  Listing(String pool, List<ZfsDataset> rows) {
    this(pool, List.copyOf(rows), index(rows), snapshotIndex(rows));
  }

  private static Map<String, ZfsDataset> index(List<ZfsDataset> rows) {
    Map<String, ZfsDataset> map = new LinkedHashMap<>();
    rows.forEach(r -> map.put(r.name(), r));
    return map;
  }

  private static Map<String, List<ZfsDataset>> snapshotIndex(List<ZfsDataset> rows) {
    Map<String, Set<ZfsDataset>> byDataset = new HashMap<>();
    for (ZfsDataset d : rows) {
      if (d.isSnapshot()) {
        byDataset.computeIfAbsent(d.datasetName(), k -> new LinkedHashSet<>()).add(d);
      }
    }
    Map<String, List<ZfsDataset>> sorted = new HashMap<>();
    byDataset.forEach((dataset, snapshots) -> sorted.put(dataset, snapshots.stream()
        .sorted(Comparator.comparingLong(ZfsDataset::createTxg)).toList()));
    return sorted;
  }

  Optional<ZfsDataset> get(String name) {
    return Optional.ofNullable(byName.get(name));
  }

  /** The pool dataset's own row. */
  Optional<ZfsDataset> root() {
    return get(pool);
  }

  /**
   * The volumes: direct children of the pool dataset (filesystems and zvols) with a PVE volume
   * name, as PVE's list_images filters them (parent-path filter, PVE d05015f/c2e6a90).
   */
  List<ZfsDataset> children() {
    List<ZfsDataset> result = new ArrayList<>();
    for (ZfsDataset d : rows) {
      if ((d.isVolume() || d.isFilesystem()) && d.parentPath().equals(pool)
          && ZfsNames.isVolumeName(d.leafName())) {
        result.add(d);
      }
    }
    return result;
  }

  /** Snapshots of one dataset, oldest first (by creation txg). */
  List<ZfsDataset> snapshotsOf(String dataset) {
    return snapshotsByDataset.getOrDefault(dataset, List.of());
  }

  /**
   * The deleted volumes this plugin keeps for their CSI snapshots or clones ({@link
   * ZfsDeletion}): direct children of the pool dataset named {@code csi-deleted-<guid>} that
   * carry the volume name they had. A dataset of that name without the property is not ours and
   * is left alone.
   */
  List<ZfsDataset> hidden() {
    return rows.stream().filter(this::isHidden).toList();
  }

  boolean isHidden(ZfsDataset d) {
    return (d.isVolume() || d.isFilesystem()) && d.parentPath().equals(pool)
        && ZfsNames.isHiddenName(d.leafName())
        && d.deletedVolname().filter(ZfsNames::isVolumeName).isPresent();
  }

  /** The volume name a live volume has, or a hidden one had. */
  String volumeName(ZfsDataset volume) {
    return isHidden(volume) ? volume.deletedVolname().orElseThrow() : volume.leafName();
  }

  /**
   * A snapshot the API lists, with the volume it belongs to (live or hidden).
   *
   * @param volume the dataset the snapshot is of
   * @param snapshot the snapshot's row
   */
  record Listed(ZfsDataset volume, ZfsDataset snapshot) {}

  /**
   * The snapshots the API lists: those of live volumes with a name the API accepts (not {@code
   * __base__}, no tombstone), and the CSI snapshots of hidden volumes, under the volume name they
   * were taken of. When a live volume and a hidden one (or two hidden ones) of one name have a
   * snapshot of the same name, only the one {@link #resolveSnapshot} finds is listed, so that a
   * snapshot ID lists what it addresses. Sorted by volume name, then oldest first, so that a
   * volume's snapshots keep their place when it is deleted.
   */
  List<Listed> listedSnapshots() {
    Map<String, Named> byId = new LinkedHashMap<>();
    for (ZfsDataset volume : resolutionOrder()) {
      boolean hidden = isHidden(volume);
      String volumeName = hidden ? volume.deletedVolname().orElseThrow() : volume.leafName();
      for (ZfsDataset snap : snapshotsOf(volume.name())) {
        String snapName = snap.snapName().orElseThrow();
        if (hidden ? snap.isCsiSnapshot() : ZfsNames.isListedSnapshot(snapName)) {
          byId.putIfAbsent(volumeName + "@" + snapName,
              new Named(volumeName, new Listed(volume, snap)));
        }
      }
    }
    // sorted on the volume name found above: asking volumeName() in the comparator ran the
    // hidden-name check twice per comparison, most of a 2,000-snapshot listing's time
    return byId.values().stream()
        .sorted(Comparator.comparing(Named::volumeName)
            .thenComparingLong(n -> n.listed().snapshot().createTxg()))
        .map(Named::listed)
        .toList();
  }

  private record Named(String volumeName, Listed listed) {}

  /**
   * The snapshot a snapshot ID addresses: the live volume's snapshot of that name (any, so that
   * {@code __base__} can be cloned), else a CSI snapshot of that name of a hidden volume that
   * had the volume name, the most recently created volume first.
   */
  Optional<Listed> resolveSnapshot(String volumeName, String snapName) {
    for (ZfsDataset volume : resolutionOrder()) {
      if (volumeName(volume).equals(volumeName)) {
        Optional<ZfsDataset> snap = get(volume.name() + "@" + snapName);
        if (snap.isPresent() && (!isHidden(volume) || snap.get().isCsiSnapshot())) {
          return Optional.of(new Listed(volume, snap.get()));
        }
      }
    }
    return Optional.empty();
  }

  /** Whether a live or a hidden volume has (had) this volume name. */
  boolean hasVolume(String volumeName) {
    return resolutionOrder().stream().anyMatch(v -> volumeName(v).equals(volumeName));
  }

  /** Live volumes, then hidden ones, newest first: the order snapshot IDs are resolved in. */
  private List<ZfsDataset> resolutionOrder() {
    List<ZfsDataset> order = new ArrayList<>(children());
    hidden().stream().sorted(Comparator.comparingLong(ZfsDataset::createTxg).reversed())
        .forEach(order::add);
    return order;
  }

  /**
   * This listing as it is once {@code names} are destroyed: a dataset goes with its snapshots
   * and no longer counts as a clone of its origin; a snapshot goes alone.
   */
  Listing without(Collection<String> names) {
    Set<String> gone = new HashSet<>(names);
    List<ZfsDataset> kept = new ArrayList<>();
    for (ZfsDataset d : rows) {
      if (gone.contains(d.name()) || gone.contains(d.datasetName())) {
        continue;
      }
      if (d.isSnapshot() && d.clones().stream().anyMatch(gone::contains)) {
        d = d.withClones(d.clones().stream().filter(c -> !gone.contains(c)).toList());
      }
      kept.add(d);
    }
    return new Listing(pool, kept);
  }

  /** The full name of a dataset directly below the pool dataset. */
  String dataset(String name) {
    return pool + "/" + name;
  }

  /** A full name without the pool dataset's prefix, as PVE reports origins. */
  String relative(String fullName) {
    return relative(pool, fullName);
  }

  static String relative(String pool, String fullName) {
    return fullName.startsWith(pool + "/") ? fullName.substring(pool.length() + 1) : fullName;
  }

  /**
   * PVE's volid name: {@code <base>/<name>} for a clone of a base's {@code @__base__}; for a
   * hidden volume the name it had.
   */
  String volidName(ZfsDataset d) {
    if (d.origin().isPresent()) {
      String origin = relative(d.origin().get());
      if (origin.endsWith("@" + ZfsNames.BASE_SNAPSHOT)) {
        String base = origin.substring(0, origin.length() - ZfsNames.BASE_SNAPSHOT.length() - 1);
        if (base.startsWith("base-") || base.startsWith("basevol-")) {
          return base + "/" + volumeName(d);
        }
      }
    }
    return volumeName(d);
  }
}
