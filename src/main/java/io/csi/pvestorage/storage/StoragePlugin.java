package io.csi.pvestorage.storage;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One storage (an LVM thin pool or a ZFS pool dataset) with the operations of Proxmox VE's
 * storage plugin API, in Java types.
 *
 * <p>Conventions for every method:
 *
 * <ul>
 *   <li><b>Sizes are bytes</b> ({@code long}), in and out. PVE passes KiB to
 *       {@code alloc_image}; this API does not.
 *   <li><b>Names are validated</b> against the storage's grammar before any command runs; a bad
 *       name is {@link io.csi.pvestorage.error.ErrorKind#INVALID}.
 *   <li><b>Failures</b> are {@link io.csi.pvestorage.error.StorageException}s whose kind says
 *       what happened (NOT_FOUND, ALREADY_EXISTS, EXHAUSTED, OUT_OF_RANGE, PRECONDITION,
 *       UNAVAILABLE, INTERNAL) and which carry the failing command and its stderr.
 *   <li><b>Locking</b>: methods marked "under the storage lock" change the pool and must be
 *       called while the caller holds the storage lock of this storage (the plugin does not take
 *       it itself, so that a caller can make "check, then act" atomic, as PVE's front end does).
 *       Reads are not locked.
 *   <li><b>Cost</b>: a listing is one command, whatever the number of volumes.
 * </ul>
 */
public interface StoragePlugin {

  /** The storage ID, e.g. {@code local-lvm}. */
  String storeId();

  /** The storage type as in storage.cfg: {@code lvmthin} or {@code zfspool}. */
  String type();

  /**
   * The owner ID new volumes get when the caller names none: the storage's {@code csi-owner}
   * from storage.cfg.
   */
  long defaultOwner();

  /**
   * This storage with per-volume allocation overrides applied to the volumes it creates. Pure:
   * no command runs, and this instance is unchanged.
   *
   * @throws io.csi.pvestorage.error.StorageException INVALID when the backend has no such
   *     setting (LVM-thin has none of them)
   */
  default StoragePlugin withVolumeOptions(VolumeOptions options) {
    if (!options.isEmpty()) {
      throw new io.csi.pvestorage.error.StorageException(io.csi.pvestorage.error.ErrorKind.INVALID,
          "volblocksize and sparse apply to zfspool storages only; storage '" + storeId()
              + "' is " + type());
    }
    return this;
  }

  /** The formats this storage can allocate ({@code raw}; ZFS also {@code subvol}). */
  List<ImageFormat> formats();

  /**
   * Takes a volume name apart as PVE does.
   *
   * @throws io.csi.pvestorage.error.StorageException INVALID if the name is not a volume name
   *     of this storage (e.g. a snapshot LV, or a {@code base/clone} name on LVM-thin)
   */
  Volname parseVolname(String volname);

  /**
   * Lists the disk images of this storage with one command.
   *
   * @param owner only images of this owner ID (ignored when {@code volumes} is given)
   * @param volumes only these volume IDs; wins over {@code owner}, as in PVE
   * @return the images, sorted by volume ID; volumes this driver did not create appear without
   *     metadata
   */
  List<ImageInfo> listImages(OptionalLong owner, Optional<Collection<VolumeId>> volumes);

  /**
   * The deleted volumes this storage keeps for their dependents ({@link HiddenVolume}), with one
   * listing. Read-only and never locked. This default has none: a backend whose deleted volumes
   * leave nothing behind (LVM-thin: a thin snapshot is a volume of its own) keeps it.
   */
  default List<HiddenVolume> listHidden() {
    return List.of();
  }

  /**
   * Allocates a new image. Under the storage lock.
   *
   * <p>The metadata (CSI name, claim) is recorded in the same command that creates the
   * volume, so a volume never exists without it. Not idempotent by itself: a name that exists
   * fails with ALREADY_EXISTS; callers look the CSI name up with {@link #listImages} first.
   *
   * @param owner owner ID for the name ({@code vm-<owner>-...})
   * @param format raw, or subvol where {@link #formats()} allows it
   * @param name the volume name; when empty, the next free {@code vm-<owner>-disk-N}
   *     ({@link #findFreeDiskname})
   * @param sizeBytes requested size in bytes, > 0 (0 allowed for subvol: no quota); the tool
   *     may round up (extents, volblocksize), see {@link #volumeSizeInfo}
   * @return the new volume name
   * @throws io.csi.pvestorage.error.StorageException INVALID (bad name or format),
   *     ALREADY_EXISTS (the name exists, or another volume already carries the metadata's CSI
   *     name), EXHAUSTED (no room), NOT_FOUND (VG or pool missing)
   */
  String allocImage(
      long owner, ImageFormat format, Optional<String> name, long sizeBytes,
      Optional<VolumeMetadata> metadata);

  /**
   * The size in bytes that {@link #allocImage} gives a request of {@code sizeBytes}, when this
   * plugin knows its rounding without asking the storage again; empty when only {@link
   * #volumeSizeInfo} can tell. A caller that just allocated uses it to skip reading the size
   * back, one command less per volume.
   */
  default OptionalLong allocationSize(ImageFormat format, long sizeBytes) {
    return OptionalLong.empty();
  }

  /**
   * Finishes the creation of a volume that {@link #allocImage} or {@link #cloneImage} made, for
   * a caller that found the volume again after a crash or a lost answer: whatever the backend
   * does after its creating command is checked and done if it is missing. Under the storage
   * lock. Idempotent; nothing that changes the storage runs when nothing is missing. This
   * default has nothing to finish (the creating command is the whole creation).
   *
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND when a backend that looks finds
   *     no such volume
   */
  default void finishCreate(String volname) {}

  /**
   * Deletes an image. Under the storage lock. Idempotent: a volume that does not exist is
   * success. Its snapshots that carry a CSI name outlive it: they stay listed under its volume
   * name, restorable and deletable, and the name is free for a new volume at once; snapshots
   * without a CSI name go with it, as in PVE.
   *
   * @throws io.csi.pvestorage.error.StorageException PRECONDITION when the volume is in use
   *     (open, mounted), or the backend cannot delete it yet for a documented reason
   */
  void freeImage(String volname);

  /**
   * {@link #freeImage} of a volume this driver made, for DeleteVolume. Under the storage lock.
   * A volume that does not exist is success; one that carries no CSI name (a Proxmox VE guest
   * disk, an operator's volume) is refused with {@link #notCreatedByTheDriver} and left as it
   * is.
   *
   * <p>This default looks the volume up with {@link #listImages} and then frees it: two
   * listings. The backends answer the ownership question from the one listing their delete
   * works from, made under the same hold of the lock, so that the check and the removal see the
   * same storage and the delete costs one listing less (PVE's {@code vdisk_free} runs its own
   * check and the removal under one lock too, 50853be).
   */
  default void freeOwnImage(String volname) {
    VolumeId id = new VolumeId(storeId(), volname);
    List<ImageInfo> found = listImages(OptionalLong.empty(), Optional.of(List.of(id)));
    if (found.isEmpty()) {
      return;
    }
    if (found.getFirst().metadata().isEmpty()) {
      throw notCreatedByTheDriver(id);
    }
    freeImage(volname);
  }

  /** The refusal of a delete of a volume without a CSI name. */
  static StorageException notCreatedByTheDriver(VolumeId id) {
    return new StorageException(ErrorKind.PRECONDITION, "volume " + id + " was not created by "
            + "this driver (it records no CSI name); it is not deleted. Remove it with the "
            + "storage's own tools if it really is unused");
  }

  /**
   * Makes a linked clone of a base image, or of a snapshot of any image. Under the storage
   * lock. The clone is a new volume; which dependencies it keeps on its source is the backend's
   * documented strategy.
   *
   * <p>Deliberate difference from PVE: the target name may be given (CSI restores name their
   * volume after the request); when empty, the next free {@code vm-<owner>-disk-N}.
   *
   * @param volname the source image
   * @param snapshot the snapshot to clone; when empty the source must be a base
   * @return the new volume name
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND (source or snapshot missing),
   *     PRECONDITION (not a base and no snapshot), ALREADY_EXISTS (the name exists, or another
   *     volume already carries the metadata's CSI name), EXHAUSTED
   */
  String cloneImage(
      String volname, long owner, Optional<String> snapshot, Optional<String> name,
      Optional<VolumeMetadata> metadata);

  /**
   * Turns an image into a read-only base that linked clones can be made from. Under the
   * storage lock.
   *
   * @return the new volume name ({@code vm-} becomes {@code base-}, {@code subvol-} becomes
   *     {@code basevol-})
   * @throws io.csi.pvestorage.error.StorageException PRECONDITION when the image already is a
   *     base or (LVM-thin) has snapshots; NOT_FOUND
   */
  String createBase(String volname);

  /**
   * Takes a snapshot of an image. Under the storage lock. Crash-consistent (nothing is
   * frozen).
   *
   * @param snapshot the snapshot name ({@link SnapshotId#SNAP_NAME})
   * @param metadata the CSI snapshot name, recorded on the snapshot
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND, ALREADY_EXISTS, EXHAUSTED
   */
  void volumeSnapshot(String volname, String snapshot, Optional<VolumeMetadata> metadata);

  /**
   * Deletes a snapshot. Under the storage lock. Idempotent: a missing snapshot is success.
   *
   * @throws io.csi.pvestorage.error.StorageException PRECONDITION when clones depend on it and
   *     the backend's strategy cannot resolve that
   */
  void volumeSnapshotDelete(String volname, String snapshot);

  /**
   * {@link #volumeSnapshotDelete} of a snapshot this driver took, for DeleteSnapshot. Under the
   * storage lock. A snapshot that {@link #listSnapshots} does not list under this ID is success
   * and nothing changes; one that carries no CSI name (PVE's, an operator's) is refused with
   * {@link #notTakenByTheDriver} and kept.
   *
   * <p>This default looks the snapshot up with {@link #listSnapshots} first: two listings. The
   * backends answer from the one listing their delete works from, under the same lock hold.
   */
  default void deleteOwnSnapshot(String volname, String snapshot) {
    SnapshotId id = new SnapshotId(new VolumeId(storeId(), volname), snapshot);
    Optional<SnapshotInfo> found = listSnapshots(Optional.of(volname)).stream()
        .filter(s -> s.id().equals(id)).findFirst();
    if (found.isEmpty()) {
      return;
    }
    if (found.get().metadata().isEmpty()) {
      throw notTakenByTheDriver(id);
    }
    volumeSnapshotDelete(volname, snapshot);
  }

  /**
   * CreateSnapshot's work on this storage, under the storage lock: the snapshot that already
   * carries {@code metadata}'s CSI name (of any volume of this storage, deleted ones included:
   * the caller compares its source), else a new snapshot {@code snapshot} of {@code volname},
   * taken with that metadata, as {@link #listSnapshots} lists it.
   *
   * <p>This default asks {@link #listSnapshots}, {@link #listImages}, {@link #volumeSnapshot}
   * and {@link #listSnapshots} again: three listings. The backends answer the lookups from one
   * listing made under the same lock hold and read back only the new snapshot.
   *
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND when {@code volname} does not
   *     exist (a deleted volume included), PRECONDITION when it carries no CSI name ({@link
   *     #notOurs}; nothing is taken), ALREADY_EXISTS when a snapshot of that name exists
   */
  default SnapshotInfo snapshotOwn(String volname, String snapshot, VolumeMetadata metadata) {
    Optional<SnapshotInfo> existing = listSnapshots(Optional.empty()).stream()
        .filter(s -> s.metadata().map(m -> m.csiName().equals(metadata.csiName())).orElse(false))
        .findFirst();
    if (existing.isPresent()) {
      return existing.get();
    }
    VolumeId source = new VolumeId(storeId(), volname);
    ImageInfo image = listImages(OptionalLong.empty(), Optional.of(List.of(source))).stream()
        .findFirst().orElseThrow(() -> sourceMissing(source));
    if (image.metadata().isEmpty()) {
      throw notOurs("source volume " + source + " was not created by this driver", "snapshotted");
    }
    volumeSnapshot(volname, snapshot, Optional.of(metadata));
    SnapshotId id = new SnapshotId(source, snapshot);
    return listSnapshots(Optional.of(volname)).stream().filter(s -> s.id().equals(id))
        .findFirst().orElseThrow(() -> new StorageException(ErrorKind.INTERNAL, "snapshot "
            + id + " was created but is not listed"));
  }

  /**
   * The golden images of this storage, with one listing: the base volumes that {@link
   * #goldenImageOwn} made (a base carrying a CSI name), each as a {@link SnapshotInfo} whose ID
   * is {@code <storeid>:<base volname>@}{@value SnapshotInfo#GOLDEN} and whose source is the
   * volume it was made from (also after that volume is deleted). A base being made (a crash
   * between its steps) and a deleted base kept for its clones are not listed. Read-only and
   * never locked. This default has none.
   */
  default List<SnapshotInfo> listGoldenImages() {
    return List.of();
  }

  /**
   * CreateSnapshot with {@code base: "true"} on this storage, under the storage lock: the
   * golden image that already carries {@code metadata}'s CSI name (finished if a crash cut its
   * making short), else a new base volume {@code base-<owner>-disk-N} (the source's owner, PVE's
   * numbering) holding the current content of {@code volname}, read-only and listed by PVE as a
   * template, from which {@link #cloneImage} makes linked clones without a snapshot name. The
   * source itself stays an ordinary, writable volume that can be deleted at any time. The CSI
   * name is recorded on the base in the command that creates it. Delete it with {@link
   * #freeOwnImage}: at once when no clone needs it, else hidden until the last clone goes, as
   * the backend's deletes keep what others depend on.
   *
   * @return the golden image as {@link #listGoldenImages} lists it
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND when {@code volname} does not
   *     exist, PRECONDITION when it carries no CSI name or is a base, INVALID when this storage
   *     has no base volumes
   */
  default SnapshotInfo goldenImageOwn(String volname, VolumeMetadata metadata) {
    throw new StorageException(ErrorKind.INVALID, "storage '" + storeId() + "' (" + type()
        + ") cannot make base volumes; use a VolumeSnapshotClass without base: \"true\"");
  }

  /** NOT_FOUND for the missing source of a snapshot. */
  static StorageException sourceMissing(VolumeId source) {
    return new StorageException(ErrorKind.NOT_FOUND, "source volume " + source
        + " does not exist in storage " + source.storeId());
  }

  /**
   * PRECONDITION for the use of an object without a CSI name; the driver leaves it alone.
   *
   * @param what the object and that it was not made by the driver
   * @param doing what would have been done to it ("snapshotted", "cloned")
   */
  static StorageException notOurs(String what, String doing) {
    return new StorageException(ErrorKind.PRECONDITION, what + " (it records no CSI name); "
        + "the driver never changes or uses what it did not create, so it is not " + doing);
  }

  /** The refusal of a delete of a snapshot without a CSI name. */
  static StorageException notTakenByTheDriver(SnapshotId id) {
    return new StorageException(ErrorKind.PRECONDITION, "snapshot " + id + " was not taken by "
        + "this driver (it records no CSI name); it is not deleted");
  }

  /**
   * Lists snapshots with one command.
   *
   * @param volname only snapshots of this image; all when empty
   */
  List<SnapshotInfo> listSnapshots(Optional<String> volname);

  /**
   * Grows an image to at least {@code newSizeBytes}. Under the storage lock.
   *
   * <p>The request is first rounded up to the backend's allocation unit (LVM extent, 1 MiB for
   * zvols). Equal to the current size: a no-op success, so a retry after a successful grow
   * succeeds. Larger: the volume grows. Smaller: refused, never shrunk.
   *
   * @return the size after the call, in bytes (rounding included)
   * @throws io.csi.pvestorage.error.StorageException OUT_OF_RANGE when the rounded request is
   *     smaller than the current size, EXHAUSTED, NOT_FOUND
   */
  long volumeResize(String volname, long newSizeBytes);

  /**
   * Size facts of one image.
   *
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND
   */
  SizeInfo volumeSizeInfo(String volname);

  /**
   * The pool's capacity, with one listing command. Never locked.
   *
   * @throws io.csi.pvestorage.error.StorageException NOT_FOUND when the VG, thin pool or ZFS
   *     dataset does not exist
   */
  PoolStatus status();

  /**
   * The pool's status, how many volumes and snapshots it holds, and its health where the
   * backend has one. Meant for the pool metrics, which refresh it on an interval; never
   * locked. Unlike {@link #status} (which GetCapacity calls per request and which stays one
   * cheap listing), this may list more: LVM-thin runs the same single {@code lvs} as
   * {@link #status}; ZFS runs <b>two</b> commands, a listing that includes snapshots and
   * {@code zpool list} for the health, because no single zfs or zpool command reports both.
   *
   * @throws io.csi.pvestorage.error.StorageException as {@link #status}; for ZFS also
   *     UNAVAILABLE when the zpool is not imported
   */
  PoolInventory inventory();

  /**
   * Makes an image (or one of its snapshots) usable as a block device or mounted dataset:
   * {@code lvchange -ay -K} for thin LVs, wait for the {@code /dev/zvol} link for zvols, mount
   * for datasets. Idempotent.
   */
  void activateVolume(String volname, Optional<String> snapshot);

  /** Undoes {@link #activateVolume} where that matters (snapshots, bases). Idempotent. */
  void deactivateVolume(String volname, Optional<String> snapshot);

  /**
   * The device (raw) or directory (subvol) of an image or snapshot. Pure: no command runs.
   */
  Path path(String volname, Optional<String> snapshot);

  /**
   * The first free name {@code <prefix>-<owner>-disk-N}, N from 0 to 1023, exactly as PVE
   * chooses it: every existing name containing {@code (vm|base)-<owner>-disk-N} (for ZFS also
   * {@code subvol|basevol}), including snapshot and pending-delete LVs, counts as taken.
   * Reads fresh state (no cache). Meaningful only under the storage lock.
   *
   * @throws io.csi.pvestorage.error.StorageException EXHAUSTED when all 1024 are taken
   */
  String findFreeDiskname(long owner, ImageFormat format);
}
