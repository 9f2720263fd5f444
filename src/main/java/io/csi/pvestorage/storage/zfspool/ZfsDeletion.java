package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.StorageException;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Deleting volumes and snapshots when ZFS clones pin them ("promote and tombstone"; the
 * strategy is described on {@link ZfsPoolPlugin}): the destroys, the tombstones, the promote
 * and the reaper. Runs under the storage lock; every method starts from one listing taken by
 * the caller.
 */
final class ZfsDeletion {

  private static final System.Logger LOG = System.getLogger(ZfsDeletion.class.getName());

  private final ZfsRunner zfs;

  ZfsDeletion(ZfsRunner zfs) {
    this.zfs = Objects.requireNonNull(zfs, "zfs");
  }

  /**
   * Deletes the volume {@code dataset} (named {@code volname} in messages) of the listing;
   * nothing but the reaper when it is not listed.
   */
  void freeVolume(Listing listing, String dataset, String volname) {
    Optional<ZfsDataset> volume = listing.get(dataset);
    Set<String> destroyed = new HashSet<>();
    Set<String> handled = new HashSet<>();
    if (volume.isEmpty()) {
      reap(listing, destroyed, handled);
      return;
    }
    List<ZfsDataset> snaps = listing.snapshotsOf(dataset);
    List<ZfsDataset> cloned = snaps.stream().filter(s -> !s.clones().isEmpty()).toList();
    if (cloned.isEmpty()) {
      zfs.destroy(ZfsCommands.destroyRecursively(dataset), "cannot destroy " + volname);
      destroyed.add(dataset);
      snaps.forEach(s -> handled.add(s.name()));
      reap(listing, destroyed, handled);
      return;
    }
    List<ZfsDataset> plain = snaps.stream().filter(s -> s.clones().isEmpty()).toList();
    if (!plain.isEmpty()) {
      zfs.destroy(ZfsCommands.destroySnapshots(dataset,
              plain.stream().map(s -> s.snapName().orElseThrow()).toList()),
          "cannot destroy the snapshots of " + volname);
    }
    // Cloned snapshots become tombstones; the names are unique, so the promote below cannot
    // fail on a snapshot name that the heir already has (e.g. both with @__base__).
    Map<ZfsDataset, String> tombstones = new LinkedHashMap<>();
    for (ZfsDataset s : cloned) {
      String snapName = s.snapName().orElseThrow();
      if (ZfsNames.isTombstone(snapName)) {
        tombstones.put(s, snapName);
      } else {
        String t = ZfsNames.tombstone(s);
        zfs.mustRun(ZfsCommands.rename(s.name(), t), "cannot set snapshot " + s.name()
            + " aside for its clones");
        tombstones.put(s, t.substring(t.indexOf('@') + 1));
      }
    }
    ZfsDataset newest = cloned.get(cloned.size() - 1);
    String heir = newest.clones().stream().sorted().findFirst().orElseThrow();
    zfs.mustRunRetryingBusy(ZfsCommands.promote(heir), "cannot promote " + heir
        + " to free " + volname);
    zfs.destroy(ZfsCommands.destroyRecursively(dataset), "cannot destroy " + volname);
    destroyed.add(dataset);
    // The tombstones now live on the heir; those whose only clone was the heir are garbage.
    List<String> garbage = new ArrayList<>();
    for (Map.Entry<ZfsDataset, String> e : tombstones.entrySet()) {
      handled.add(e.getKey().name());
      Set<String> rest = new HashSet<>(e.getKey().clones());
      rest.remove(heir);
      if (rest.isEmpty()) {
        garbage.add(heir + "@" + e.getValue());
      }
    }
    plain.forEach(s -> handled.add(s.name()));
    // The volume's own origin now belongs to the heir (promote hands it over): not garbage.
    volume.get().origin().ifPresent(handled::add);
    for (String snapshot : garbage) {
      reapOne(snapshot);
    }
    reap(listing, destroyed, handled);
  }

  /**
   * Deletes the snapshot {@code full} ({@code <dataset>@<snap>}) of the listing: destroyed
   * without clones, a tombstone with them; nothing when it is not listed. Then the reaper.
   */
  void deleteSnapshot(Listing listing, String full) {
    Optional<ZfsDataset> row = listing.get(full);
    Set<String> reaped = new HashSet<>();
    if (row.isPresent()) {
      if (row.get().clones().isEmpty()) {
        zfs.destroy(ZfsCommands.destroySnapshot(full), "cannot destroy snapshot " + full);
      } else {
        zfs.mustRun(ZfsCommands.rename(full, ZfsNames.tombstone(row.get())),
            "cannot set snapshot " + full + " aside for its clones");
      }
      reaped.add(full);
    }
    reap(listing, Set.of(), reaped);
  }

  /**
   * The reaper: destroys every tombstone of the listing that has no clones left once {@code
   * destroyed} are gone, except those in {@code handled} (dealt with by the caller). Best
   * effort: failures are logged; a later call tries again.
   */
  private void reap(Listing listing, Set<String> destroyed, Set<String> handled) {
    for (ZfsDataset row : listing.rows()) {
      if (!row.isSnapshot() || handled.contains(row.name())
          || destroyed.contains(row.datasetName())
          || !ZfsNames.isTombstone(row.snapName().orElse(""))) {
        continue;
      }
      if (destroyed.containsAll(row.clones())) {
        reapOne(row.name());
      }
    }
  }

  private void reapOne(String snapshot) {
    try {
      zfs.destroy(ZfsCommands.destroySnapshot(snapshot), "cannot reap tombstone " + snapshot);
    } catch (StorageException e) {
      LOG.log(Level.WARNING, "tombstone {0} left for a later call: {1}", snapshot, e.describe());
    }
  }
}
