package io.csi.pvestorage.csi;

import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * How a volume will be used, checked against what node-local LVM-thin and ZFS volumes can do,
 * and what that means on disk.
 *
 * <p>Access: single-node modes only (the volume lives on one node's pool); block access needs a
 * raw volume; mount access with {@code ext4}/{@code xfs} is a raw volume with that filesystem,
 * and with {@code zfs} a ZFS dataset mounted directly. The filesystem comes from the capability's
 * {@code fs_type}, else the StorageClass parameter {@code fsType}, else {@code ext4}.
 *
 * @param block whether raw block access was asked for
 * @param mount whether filesystem access was asked for
 * @param fsType the filesystem for mount access ({@code ext4}, {@code xfs}, {@code zfs})
 * @param format what to allocate: raw, or subvol for {@code zfs}
 */
public record VolumeAccess(boolean block, boolean mount, Optional<String> fsType,
    ImageFormat format) {

  /** Access modes a node-local volume can honour. */
  public static final Set<Mode> SUPPORTED_MODES = EnumSet.of(Mode.SINGLE_NODE_WRITER,
      Mode.SINGLE_NODE_READER_ONLY, Mode.SINGLE_NODE_SINGLE_WRITER, Mode.SINGLE_NODE_MULTI_WRITER);

  /** The filesystem used when neither the capability nor the StorageClass names one. */
  public static final String DEFAULT_FS = "ext4";

  /**
   * Checks a request's capabilities.
   *
   * @param capabilities the request's volume capabilities (all must be satisfiable)
   * @param parameterFsType the StorageClass {@code fsType}, if any
   * @param storageType {@code lvmthin} or {@code zfspool}
   * @throws StorageException INVALID with a message that says what to change
   */
  public static VolumeAccess of(List<VolumeCapability> capabilities,
      Optional<String> parameterFsType, String storageType) {
    if (capabilities.isEmpty()) {
      throw invalid("volume_capabilities is required: say how the volume will be used "
          + "(block or mount, and an access mode)");
    }
    boolean block = false;
    boolean mount = false;
    Optional<String> fsType = Optional.empty();
    for (VolumeCapability capability : capabilities) {
      checkMode(capability);
      switch (capability.getAccessTypeCase()) {
        case BLOCK -> block = true;
        case MOUNT -> {
          mount = true;
          VolumeCapability.MountVolume m = capability.getMount();
          checkMountFlags(m.getMountFlagsList());
          if (!m.getFsType().isEmpty()) {
            String fs = m.getFsType().toLowerCase(Locale.ROOT);
            if (fsType.isPresent() && !fsType.get().equals(fs)) {
              throw invalid("capabilities ask for two filesystems, " + fsType.get() + " and "
                  + fs + "; a volume has one");
            }
            fsType = Optional.of(fs);
          }
        }
        default -> throw invalid("a volume capability needs an access type, block or mount");
      }
    }
    if (mount) {
      if (fsType.isPresent() && parameterFsType.isPresent()
          && !fsType.get().equals(parameterFsType.get())) {
        throw invalid("the volume capability asks for fsType " + fsType.get()
            + " but the StorageClass parameter fsType is " + parameterFsType.get());
      }
      fsType = fsType.or(() -> parameterFsType).or(() -> Optional.of(DEFAULT_FS));
      String fs = fsType.get();
      if (!VolumeParameters.BLOCK_FILESYSTEMS.contains(fs) && !fs.equals(VolumeParameters.ZFS)) {
        throw invalid("fsType " + fs + " is not supported; use ext4, xfs, or zfs (a ZFS dataset)");
      }
    }
    boolean dataset = fsType.map(VolumeParameters.ZFS::equals).orElse(false);
    if (dataset && block) {
      throw invalid("fsType zfs is a dataset and cannot also be used as a block device");
    }
    if (dataset && !storageType.equals("zfspool")) {
      throw invalid("fsType zfs needs a zfspool storage; this storage is " + storageType
          + " (use ext4 or xfs)");
    }
    return new VolumeAccess(block, mount, mount ? fsType : Optional.empty(),
        dataset ? ImageFormat.SUBVOL : ImageFormat.RAW);
  }

  private static void checkMode(VolumeCapability capability) {
    if (!capability.hasAccessMode() || capability.getAccessMode().getMode() == Mode.UNKNOWN) {
      throw invalid("a volume capability needs an access mode");
    }
    Mode mode = capability.getAccessMode().getMode();
    if (mode == Mode.UNRECOGNIZED) {
      throw invalid("access mode " + capability.getAccessMode().getModeValue() + " is unknown");
    }
    if (!SUPPORTED_MODES.contains(mode)) {
      throw invalid("access mode " + mode + " is not supported: volumes live on one node's pool; "
          + "use ReadWriteOnce, ReadWriteOncePod or ReadOnlyMany on one node (SINGLE_NODE_*)");
    }
  }

  private static void checkMountFlags(List<String> flags) {
    for (String flag : flags) {
      if (flag.isBlank() || flag.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
        throw invalid("mount flags must be non-empty and free of control characters");
      }
    }
  }

  private static StorageException invalid(String message) {
    return new StorageException(ErrorKind.INVALID, message);
  }
}
