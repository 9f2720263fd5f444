package io.csi.pvestorage.storage;

/**
 * The on-disk format of a volume, as PVE names it.
 *
 * <ul>
 *   <li>{@link #RAW}: a block device (an LVM thin LV, a ZFS zvol); used for raw block volumes
 *       and for ext4/xfs filesystems made on top.
 *   <li>{@link #SUBVOL}: a ZFS filesystem dataset with a {@code refquota}, mounted directly
 *       (fsType {@code zfs}); LVM-thin does not have it.
 * </ul>
 */
public enum ImageFormat {
  RAW("raw"),
  SUBVOL("subvol");

  private final String pveName;

  ImageFormat(String pveName) {
    this.pveName = pveName;
  }

  /** The format name PVE uses ({@code raw}, {@code subvol}). */
  public String pveName() {
    return pveName;
  }
}
