package io.csi.pvestorage.storage.zfspool;

import java.util.ArrayList;
import java.util.Comparator;
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
 */
record Listing(String pool, List<ZfsDataset> rows, Map<String, ZfsDataset> byName) {

  Listing(String pool, List<ZfsDataset> rows) {
    this(pool, List.copyOf(rows), index(rows));
  }

  private static Map<String, ZfsDataset> index(List<ZfsDataset> rows) {
    Map<String, ZfsDataset> map = new LinkedHashMap<>();
    rows.forEach(r -> map.put(r.name(), r));
    return map;
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
    Set<ZfsDataset> result = new LinkedHashSet<>();
    for (ZfsDataset d : rows) {
      if (d.isSnapshot() && d.datasetName().equals(dataset)) {
        result.add(d);
      }
    }
    return result.stream().sorted(Comparator.comparingLong(ZfsDataset::createTxg)).toList();
  }

  /** The snapshots of a volume the API lists: not {@code __base__}, tombstones or odd names. */
  List<ZfsDataset> listedSnapshotsOf(ZfsDataset volume) {
    return snapshotsOf(volume.name()).stream()
        .filter(s -> ZfsNames.isListedSnapshot(s.snapName().orElseThrow()))
        .toList();
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

  /** PVE's volid name: {@code <base>/<name>} for a clone of a base's {@code @__base__}. */
  String volidName(ZfsDataset d) {
    if (d.origin().isPresent()) {
      String origin = relative(d.origin().get());
      if (origin.endsWith("@" + ZfsNames.BASE_SNAPSHOT)) {
        String base = origin.substring(0, origin.length() - ZfsNames.BASE_SNAPSHOT.length() - 1);
        if (base.startsWith("base-") || base.startsWith("basevol-")) {
          return base + "/" + d.leafName();
        }
      }
    }
    return d.leafName();
  }
}
