package io.csi.pvestorage.node;

/**
 * A device number: of a block device node, or of a mounted filesystem. Two paths show the same
 * device exactly when their numbers are equal, however they were reached (an LVM link in
 * {@code /dev/<vg>}, {@code /dev/mapper}, {@code /dev/dm-N}, a bind mount of the node).
 *
 * @param major the major number
 * @param minor the minor number
 */
public record DeviceNumber(int major, int minor) {

  public DeviceNumber {
    if (major < 0 || minor < 0) {
      throw new IllegalArgumentException("device numbers are not negative: " + major + ":" + minor);
    }
  }

  /** As findmnt and /proc show it: {@code major:minor} in decimal. */
  @Override
  public String toString() {
    return major + ":" + minor;
  }
}
