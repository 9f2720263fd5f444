package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Optional;

/**
 * What is at a path, from {@code stat -c} {@value #FORMAT}: its type and, for a device node,
 * its device number.
 *
 * @param type what kind of file it is
 * @param device the device number of a block device; empty for anything else
 */
public record FileInfo(Type type, Optional<DeviceNumber> device) {

  /** The stat format: type name, then major and minor in hex, separated by '|'. */
  public static final String FORMAT = "%F|%t|%T";

  /** The kinds of file the Node service tells apart. */
  public enum Type { DIRECTORY, REGULAR_FILE, BLOCK_DEVICE, SYMBOLIC_LINK, OTHER }

  /**
   * Parses stat's output for one path.
   *
   * @throws StorageException INTERNAL when it is not of the expected shape
   */
  public static FileInfo parse(String stdout) {
    String[] f = stdout.strip().split("\\|");
    if (f.length != 3) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read stat output '"
          + stdout.strip() + "'");
    }
    Type type = switch (f[0]) {
      case "directory" -> Type.DIRECTORY;
      case "regular file", "regular empty file" -> Type.REGULAR_FILE;
      case "block special file" -> Type.BLOCK_DEVICE;
      case "symbolic link" -> Type.SYMBOLIC_LINK;
      default -> Type.OTHER;
    };
    if (type != Type.BLOCK_DEVICE) {
      return new FileInfo(type, Optional.empty());
    }
    try {
      return new FileInfo(type, Optional.of(
          new DeviceNumber(Integer.parseInt(f[1], 16), Integer.parseInt(f[2], 16))));
    } catch (NumberFormatException e) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read the device number in stat "
          + "output '" + stdout.strip() + "'");
    }
  }
}
