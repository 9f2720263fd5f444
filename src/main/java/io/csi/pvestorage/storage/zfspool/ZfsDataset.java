package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeNames;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One row of {@code zfs list -H -p -o }{@link ZfsListParser#COLUMNS}: a filesystem, volume or
 * snapshot, with sizes in bytes and our user properties decoded.
 *
 * @param name full dataset name, e.g. {@code rpool/data/vm-100-disk-0} or {@code ...@snap}
 * @param type {@code filesystem}, {@code volume} or {@code snapshot}
 * @param volsize a volume's (or a volume snapshot's) size; empty for filesystems
 * @param refquota a filesystem's refquota, 0 meaning {@code none}; empty for others
 * @param origin the snapshot a clone was made from
 * @param creation creation time, epoch seconds
 * @param used bytes used by the dataset and its descendants
 * @param usedByDataset bytes used by the dataset itself
 * @param available bytes available to it (empty for snapshots)
 * @param referenced bytes referenced
 * @param volblocksize a volume's block size; empty for others
 * @param guid the ZFS guid (stable identity, decimal)
 * @param createTxg the transaction group of creation (orders snapshots exactly)
 * @param clones for a snapshot, the datasets cloned from it
 * @param recordedRefquota PVE's {@code pve-storage:refquota} user property on a snapshot: the
 *     refquota of its filesystem when it was taken (0 meaning none)
 * @param csiName our volume CSI name property
 * @param pvcNamespace our claim namespace property
 * @param pvcName our claim name property
 * @param pvName our PersistentVolume name property
 * @param snapshotCsiName our snapshot CSI name property (only ever set on snapshots)
 * @param deletedVolname the volume name a deleted volume had (only ever set on datasets this
 *     plugin hides; snapshots show it inherited)
 */
record ZfsDataset(
    String name,
    String type,
    OptionalLong volsize,
    OptionalLong refquota,
    Optional<String> origin,
    long creation,
    long used,
    long usedByDataset,
    OptionalLong available,
    long referenced,
    OptionalLong volblocksize,
    String guid,
    long createTxg,
    List<String> clones,
    OptionalLong recordedRefquota,
    Optional<String> csiName,
    Optional<String> pvcNamespace,
    Optional<String> pvcName,
    Optional<String> pvName,
    Optional<String> snapshotCsiName,
    Optional<String> deletedVolname) {

  ZfsDataset {
    Objects.requireNonNull(name, "name");
    clones = List.copyOf(clones);
  }

  boolean isSnapshot() {
    return type.equals("snapshot");
  }

  boolean isVolume() {
    return type.equals("volume");
  }

  boolean isFilesystem() {
    return type.equals("filesystem");
  }

  /** The dataset part of a snapshot name (everything before '@'); the name itself otherwise. */
  String datasetName() {
    int at = name.indexOf('@');
    return at < 0 ? name : name.substring(0, at);
  }

  /** The snapshot part of a snapshot name; empty for datasets. */
  Optional<String> snapName() {
    int at = name.indexOf('@');
    return at < 0 ? Optional.empty() : Optional.of(name.substring(at + 1));
  }

  /** The parent path of a dataset ({@code rpool/data} for {@code rpool/data/vm-1-disk-0}). */
  String parentPath() {
    String ds = datasetName();
    int slash = ds.lastIndexOf('/');
    return slash < 0 ? "" : ds.substring(0, slash);
  }

  /** This row with other clones (what it shows once some of its clones are destroyed). */
  ZfsDataset withClones(List<String> remaining) {
    return new ZfsDataset(name, type, volsize, refquota, origin, creation, used, usedByDataset,
        available, referenced, volblocksize, guid, createTxg, remaining, recordedRefquota,
        csiName, pvcNamespace, pvcName, pvName, snapshotCsiName, deletedVolname);
  }

  /**
   * A snapshot a VolumeSnapshot stands for: it carries our snapshot CSI name and a name the API
   * lists (so not a tombstone, which keeps the property of the snapshot it was).
   */
  boolean isCsiSnapshot() {
    return isSnapshot() && snapshotCsiName().isPresent()
        && ZfsNames.isListedSnapshot(snapName().orElseThrow());
  }

  /**
   * A snapshot a PVC clone took of a volume this driver made ({@link
   * VolumeNames#cloneSnapshotFor}: such a name, no CSI name of its own, our CSI name inherited
   * from the volume) that no clone uses. A clone takes, uses and tombstones its snapshot within
   * one hold of the storage lock, so under the lock such a snapshot is what an abandoned
   * attempt left behind.
   */
  boolean isStaleCloneSnapshot() {
    return isSnapshot() && VolumeNames.isCloneSnapshotName(snapName().orElseThrow())
        && snapshotCsiName().isEmpty() && clones().isEmpty() && csiName().isPresent();
  }

  /** raw for a zvol, subvol for a filesystem. */
  ImageFormat format() {
    return isVolume() ? ImageFormat.RAW : ImageFormat.SUBVOL;
  }

  /**
   * The size a volume is provisioned with: a zvol's volsize, a filesystem's refquota (0 for
   * none, i.e. the pool's size).
   */
  long provisionedBytes() {
    return isVolume() ? volsize().orElse(0) : refquota().orElse(0);
  }

  /**
   * The size a restore from this snapshot of {@code volume} needs: a zvol snapshot's own volsize
   * (ZFS keeps the size at snapshot time); for a dataset the refquota recorded on the snapshot,
   * else the dataset's current refquota, else (no quota at all) the bytes the snapshot
   * references, so that it is never 0.
   */
  long restoreSize(ZfsDataset volume) {
    if (volsize().isPresent()) {
      return volsize().getAsLong();
    }
    long recorded = recordedRefquota().orElse(0);
    if (recorded > 0) {
      return recorded;
    }
    long current = volume.refquota().orElse(0);
    return current > 0 ? current : Math.max(1, referenced());
  }

  /** The last path element of the dataset part. */
  String leafName() {
    String ds = datasetName();
    return ds.substring(ds.lastIndexOf('/') + 1);
  }
}
