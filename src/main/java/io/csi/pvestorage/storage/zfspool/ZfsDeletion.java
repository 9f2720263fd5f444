package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.StorageException;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Deleting volumes and snapshots without ever destroying a CSI snapshot and without ever
 * waiting for a clone ("hide and tombstone"). A ZFS clone pins its origin snapshot, and a
 * dataset with snapshots cannot be destroyed without them; Kubernetes, for its part, keeps a
 * VolumeSnapshot usable after its source volume is deleted. So:
 *
 * <ul>
 *   <li><b>A volume without CSI snapshots and without clones</b> of any of its snapshots is
 *       destroyed with {@code zfs destroy -r}, its other snapshots with it, as PVE does. A
 *       filesystem with snapshots is unmounted first and a zvol with snapshots is hidden first
 *       (below), so that one in use never loses its snapshots to a delete that then fails busy.
 *   <li><b>Any other volume is hidden</b>: its snapshots that are neither CSI snapshots nor
 *       cloned (and tombstones without clones) are destroyed; its cloned snapshots that are not
 *       CSI snapshots become tombstones (below; for a base's {@code __base__} that also keeps
 *       PVE from naming a linked clone after a dataset it cannot parse); the volume name it has
 *       is recorded in {@link ZfsListParser#DELETED_VOLNAME} together with the release of what it
 *       no longer needs (see {@link #release}), in one {@code zfs set}; then it is renamed to
 *       {@link ZfsNames#hiddenName}. The property comes first, so that a crash between the two
 *       leaves a volume whose retried delete does the same again, never a renamed dataset
 *       nobody can tell the origin of. Once hidden, the name and the CSI name are free: a new
 *       volume of either is a new, independent dataset.
 *   <li><b>A snapshot with clones</b> is renamed to a tombstone, {@code <dataset>@__deleted_<guid>},
 *       which the API never lists and whose old name is free again.
 *   <li><b>The reaper</b> runs after every delete, from the listing as the delete left it, and
 *       destroys what nothing needs any more: hidden volumes without CSI snapshots and without
 *       clones (with {@code -r}), tombstones without clones, and stale snapshots of PVC
 *       clones ({@link ZfsDataset#isStaleCloneSnapshot}). Destroying one thing can free another
 *       (a hidden volume that was itself a restore frees its origin's tombstone), so it goes on
 *       until nothing is left to do; deleting the last CSI snapshot of a hidden volume, or the
 *       last clone of one of its snapshots, destroys the hidden volume in that same call. It is
 *       best effort: a failure is logged, and the next delete on the storage tries again.
 * </ul>
 *
 * <p>{@code zfs promote} is not needed any more: a volume is never destroyed while something
 * depends on it, it is hidden. Runs under the storage lock; every method starts from one
 * listing with snapshots taken by the caller.
 */
final class ZfsDeletion {

  private static final System.Logger LOG = System.getLogger(ZfsDeletion.class.getName());

  private final ZfsRunner zfs;

  ZfsDeletion(ZfsRunner zfs) {
    this.zfs = Objects.requireNonNull(zfs, "zfs");
  }

  /**
   * Deletes the live volume {@code volumeName} of the listing (named {@code volname} in
   * messages): destroyed, or hidden as the class comment says; only the reaper when it is not
   * listed (deleted already).
   */
  void freeVolume(Listing listing, String volumeName, String volname) {
    String dataset = listing.dataset(volumeName);
    Optional<ZfsDataset> volume = listing.get(dataset);
    if (volume.isEmpty()) {
      reap(listing);
      return;
    }
    List<ZfsDataset> snapshots = listing.snapshotsOf(dataset);
    if (snapshots.stream().anyMatch(ZfsDeletion::keepsItsVolume)) {
      reap(hide(listing, volume.get(), snapshots, volname));
      return;
    }
    if (!snapshots.isEmpty() && volume.get().isVolume()) {
      hideThenDestroy(listing, volume.get(), volname);
      return;
    }
    if (!snapshots.isEmpty()) {
      // zfs destroy -r destroys the snapshots first and only then fails to unmount a
      // filesystem in use, leaving the volume without them (OpenZFS 2.1.11, StorageFaultsIT).
      // Unmounted first, a busy filesystem fails before anything is destroyed.
      zfs.unmount(ZfsCommands.unmount(dataset), "cannot delete " + volname + ": it is in use");
    }
    zfs.destroy(ZfsCommands.destroyRecursively(dataset), "cannot destroy " + volname);
    reap(listing.without(List.of(dataset)));
  }

  /** A snapshot that a delete of its volume must keep: a CSI snapshot, or one with clones. */
  private static boolean keepsItsVolume(ZfsDataset snapshot) {
    return snapshot.isCsiSnapshot() || !snapshot.clones().isEmpty();
  }

  /**
   * Deletes a zvol whose snapshots nothing needs (an operator's, PVE's). {@code zfs destroy -r}
   * destroys them before it finds the zvol itself busy (held open: measured on OpenZFS 2.1.11,
   * StorageFaultsIT), and unlike a filesystem's unmount ZFS has no check for "open" short of
   * that destroy. So the zvol is hidden first, with its snapshots (the mark and the rename work
   * while it is open, and either failing fails the delete with nothing destroyed), and only then
   * destroyed under its hidden name, busy retried as PVE does. When it stays busy the delete has
   * still happened: the volume is out of every listing and its name free, and the reaper of a
   * later delete destroys it once its holder lets go (it is a hidden volume nothing keeps).
   * A crash after the rename leaves the same for the reaper.
   */
  private void hideThenDestroy(Listing listing, ZfsDataset volume, String volname) {
    String hidden = markAndRename(listing, volume, volname);
    try {
      zfs.destroy(ZfsCommands.destroyRecursively(hidden), "cannot destroy " + volname);
    } catch (StorageException e) {
      LOG.log(Level.WARNING, "deleted {0} is kept as {1} until a later delete can destroy it: {2}",
          volname, hidden, e.describe());
    }
    reap(listing.without(List.of(volume.name())));
  }

  /**
   * Hides the volume; returns the listing without the snapshots this destroyed. The rows of the
   * hidden volume keep their old names there; that is harmless for the reaper, which finds
   * nothing to destroy on it (it only has CSI snapshots and snapshots with clones now).
   */
  private Listing hide(Listing listing, ZfsDataset volume, List<ZfsDataset> snapshots,
      String volname) {
    String dataset = volume.name();
    List<String> garbage = new ArrayList<>();
    for (ZfsDataset s : snapshots) {
      if (!keepsItsVolume(s)) {
        garbage.add(s.snapName().orElseThrow());
      }
    }
    if (!garbage.isEmpty()) {
      zfs.destroy(ZfsCommands.destroySnapshots(dataset, garbage),
          "cannot destroy the snapshots of " + volname + " that nothing needs");
    }
    for (ZfsDataset s : snapshots) {
      if (!s.clones().isEmpty() && !s.isCsiSnapshot()
          && !ZfsNames.isTombstone(s.snapName().orElseThrow())) {
        setAside(s);
      }
    }
    markAndRename(listing, volume, volname);
    return listing.without(garbage.stream().map(s -> dataset + "@" + s).toList());
  }

  /**
   * Records the volume name on the volume with the release of what it no longer needs, then
   * renames it to its hidden name, which it returns (see the class comment for the order).
   */
  private String markAndRename(Listing listing, ZfsDataset volume, String volname) {
    String dataset = volume.name();
    List<String> properties = new ArrayList<>(List.of(ZfsListParser.DELETED_VOLNAME + "="
        + PropertyValues.encode(listing.volumeName(volume))));
    properties.add(release(volume));
    zfs.mustRunRetryingBusy(ZfsCommands.set(properties, dataset),
        "cannot mark " + volname + " as deleted");
    String hidden = listing.dataset(ZfsNames.hiddenName(volume));
    zfs.mustRunRetryingBusy(ZfsCommands.rename(dataset, hidden),
        "cannot rename deleted " + volname + " to " + hidden);
    return hidden;
  }

  /**
   * What a hidden volume gives back, set in the same command as its deleted-volname. Nothing
   * writes to it any more: no volume ID names it, PVE does not list it, and clones and restores
   * read only its snapshots. So
   *
   * <ul>
   *   <li>a zvol drops its reservation ({@code refreservation=none}): on a non-sparse storage it
   *       would otherwise hold back its whole size from the pool's {@code available} for as long
   *       as a snapshot lives, although its blocks, shared with the snapshots, stay counted in
   *       {@code used} anyway; on a sparse one there is none and this changes nothing;
   *   <li>a filesystem is unmounted and stays so ({@code canmount=off}, which unmounts it, and
   *       keeps the rename that follows from mounting it again under its new name): it would
   *       otherwise appear below the pool's mount point as {@code csi-deleted-<guid>} and be
   *       mounted again at every boot, for nobody. Clones of its snapshots are mounted as usual
   *       ({@code canmount} is not inherited).
   * </ul>
   *
   * <p>Unlike a destroy, hiding does not fail while the volume is in use, and ZFS has no check
   * short of a destroy: a zvol is renamed while open (measured on OpenZFS 2.1.11), and a
   * filesystem that is bind-mounted elsewhere stays reachable there. Whoever holds it keeps it
   * until they let go; nothing is lost, and the reaper destroys it once its snapshots and clones
   * are gone. Kubernetes deletes only volumes that no pod uses.
   */
  private static String release(ZfsDataset volume) {
    return volume.isVolume() ? "refreservation=none" : "canmount=off";
  }

  /**
   * Deletes a resolved snapshot: destroyed when nothing clones it, else set aside as a
   * tombstone; nothing when it is not there (deleted already). Then the reaper.
   */
  void deleteSnapshot(Listing listing, Optional<ZfsDataset> snapshot) {
    if (snapshot.isEmpty()) {
      reap(listing);
      return;
    }
    ZfsDataset snap = snapshot.get();
    if (snap.clones().isEmpty()) {
      zfs.destroy(ZfsCommands.destroySnapshot(snap.name()),
          "cannot destroy snapshot " + snap.name());
      reap(listing.without(List.of(snap.name())));
      return;
    }
    setAside(snap);
    // The listing still shows it under its old name, with its clones: neither name makes it or
    // its volume something to reap.
    reap(listing);
  }

  /** Renames a snapshot with clones to its tombstone. */
  private void setAside(ZfsDataset snapshot) {
    zfs.mustRun(ZfsCommands.rename(snapshot.name(), ZfsNames.tombstone(snapshot)),
        "cannot set snapshot " + snapshot.name() + " aside for its clones");
  }

  /**
   * The reaper (see the class comment), one destroy at a time until nothing is left to reap.
   * What fails is logged and not tried again in this call.
   */
  private void reap(Listing listing) {
    Listing current = listing;
    Set<String> failed = new HashSet<>();
    Optional<ZfsDataset> next;
    while ((next = nextToReap(current, failed)).isPresent()) {
      ZfsDataset row = next.get();
      List<String> argv = row.isSnapshot() ? ZfsCommands.destroySnapshot(row.name())
          : ZfsCommands.destroyRecursively(row.name());
      try {
        zfs.destroy(argv, "cannot reap " + row.name());
        current = current.without(List.of(row.name()));
      } catch (StorageException e) {
        LOG.log(Level.WARNING, "{0} left for a later call: {1}", row.name(), e.describe());
        failed.add(row.name());
      }
    }
  }

  /**
   * The next thing to reap: a hidden volume nothing needs (first, so that its tombstones go
   * with it in one command), else a tombstone without clones or a stale clone snapshot.
   */
  private static Optional<ZfsDataset> nextToReap(Listing listing, Set<String> failed) {
    for (ZfsDataset hidden : listing.hidden()) {
      if (!failed.contains(hidden.name()) && listing.snapshotsOf(hidden.name()).stream()
          .noneMatch(ZfsDeletion::keepsItsVolume)) {
        return Optional.of(hidden);
      }
    }
    for (ZfsDataset row : listing.rows()) {
      if (!failed.contains(row.name())
          && (isUnusedTombstone(row) || row.isStaleCloneSnapshot())) {
        return Optional.of(row);
      }
    }
    return Optional.empty();
  }

  private static boolean isUnusedTombstone(ZfsDataset row) {
    return row.isSnapshot() && ZfsNames.isTombstone(row.snapName().orElseThrow())
        && row.clones().isEmpty();
  }
}
