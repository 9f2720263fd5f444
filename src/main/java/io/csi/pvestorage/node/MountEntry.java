package io.csi.pvestorage.node;

import java.util.List;
import java.util.Objects;

/**
 * One mount of the host's mount table, as findmnt reports it.
 *
 * @param target where it is mounted
 * @param source what is mounted (a device, a dataset name, {@code devtmpfs[/loop0]} for a bind
 *     of a device node)
 * @param fsType the filesystem type
 * @param vfsOptions the per-mount options ({@code ro} or {@code rw} first)
 * @param fsOptions the filesystem's (superblock's) options
 * @param majMin the device number of the mounted filesystem, {@code major:minor}: the same for
 *     every bind mount of one filesystem
 * @param fsRoot the directory of that filesystem which is mounted here ({@code /} for all of it)
 */
public record MountEntry(String target, String source, String fsType, List<String> vfsOptions,
    List<String> fsOptions, String majMin, String fsRoot) {

  public MountEntry {
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(fsType, "fsType");
    vfsOptions = List.copyOf(vfsOptions);
    fsOptions = List.copyOf(fsOptions);
    Objects.requireNonNull(majMin, "majMin");
    Objects.requireNonNull(fsRoot, "fsRoot");
  }

  /** Whether this mount refuses writes. */
  public boolean readOnly() {
    return vfsOptions.contains("ro");
  }

  /**
   * Whether the filesystem itself is read-only while this mount is not: what the kernel does to
   * an ext4 or xfs that hit errors ({@code errors=remount-ro}, shutdown), never a choice of ours.
   */
  public boolean forcedReadOnly() {
    return fsOptions.contains("ro") && !readOnly();
  }

  /** Whether this mount shows the same directory of the same filesystem as {@code other}. */
  public boolean sameContent(MountEntry other) {
    return majMin.equals(other.majMin) && fsRoot.equals(other.fsRoot);
  }

  /** Whether this is the whole filesystem of the device with this number. */
  public boolean isWholeFilesystemOf(DeviceNumber device) {
    return majMin.equals(device.toString()) && fsRoot.equals("/");
  }

  /** For messages: what is mounted where. */
  public String describe() {
    return source + " (" + fsType + ", " + String.join(",", vfsOptions) + ") on " + target;
  }
}
