package io.csi.pvestorage.conformance;

/**
 * What the conformance suite runs against: one storage of the driver's storage.cfg and how its
 * volumes are used. The cases are the same for every backend; only these facts differ.
 *
 * @param name short name for reports and volume names ({@code lvmthin}, {@code zvol}, ...)
 * @param storage the storage ID, the StorageClass parameter {@code storage}
 * @param fsType the filesystem of mount volumes (StorageClass {@code fsType} and the mount
 *     capability's {@code fs_type}); {@code zfs} means a ZFS dataset
 * @param format the {@code format} the driver reports in volume_context for mount volumes
 *     ({@code raw} or {@code subvol})
 */
public record Backend(String name, String storage, String fsType, String format) {

  public static final Backend LVM_THIN =
      new Backend("lvmthin", GuestDriver.LVM_STORAGE, "ext4", "raw");
  public static final Backend ZFS_ZVOL =
      new Backend("zvol", GuestDriver.ZFS_STORAGE, "ext4", "raw");
  public static final Backend ZFS_DATASET =
      new Backend("dataset", GuestDriver.ZFS_STORAGE, "zfs", "subvol");

  /** Whether the storage is the guest's LVM-thin pool (else the zpool). */
  public boolean isLvm() {
    return storage.equals(GuestDriver.LVM_STORAGE);
  }

  /** Whether a CSI volume or snapshot ID names an object of this backend's storage. */
  public boolean owns(String id) {
    return id.startsWith(storage + ":");
  }

  /**
   * A volume ID of this storage, well-formed (PVE volume name grammar) but of a volume that
   * was never created.
   */
  public String missingVolumeId() {
    return storage + ":" + (format.equals("subvol") ? "subvol" : "vm") + "-999999999-disk-77";
  }

  /** A snapshot ID of a volume that was never created. */
  public String missingSnapshotId() {
    return missingVolumeId() + "@nosuch";
  }
}
