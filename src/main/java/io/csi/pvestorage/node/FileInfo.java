package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Optional;

/**
 * What is at a path, from {@code stat -c} {@value #FORMAT}: its type, for a device node its
 * device number, and its size.
 *
 * @param type what kind of file it is
 * @param device the device number of a block device; empty for anything else
 * @param sizeBytes the size stat reports (a regular file's length; 0 for a device node)
 */
public record FileInfo(Type type, Optional<DeviceNumber> device, long sizeBytes) {

  /** The stat format: type name, major and minor in hex, size in bytes, separated by '|'. */
  public static final String FORMAT = "%F|%t|%T|%s";

  /** The kinds of file the Node service tells apart. */
  public enum Type { DIRECTORY, REGULAR_FILE, BLOCK_DEVICE, SYMBOLIC_LINK, OTHER }

  /**
   * Parses stat's output for one path.
   *
   * @throws StorageException INTERNAL when it is not of the expected shape
   */
  public static FileInfo parse(String stdout) {
    String[] f = stdout.strip().split("\\|");
    if (f.length != 4) {
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
    try {
      long size = Long.parseLong(f[3]);
      if (type != Type.BLOCK_DEVICE) {
        return new FileInfo(type, Optional.empty(), size);
      }
      return new FileInfo(type, Optional.of(
          new DeviceNumber(Integer.parseInt(f[1], 16), Integer.parseInt(f[2], 16))), size);
    } catch (NumberFormatException e) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read the device number or size "
          + "in stat output '" + stdout.strip() + "'");
    }
  }
}
