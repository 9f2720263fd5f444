package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.HashMap;
import java.util.Map;

/**
 * How large a filesystem was made (or last grown), as its own tool reads it from the superblock:
 * the size it occupies on its device, which is what is compared with the device's size to decide
 * whether it must grow. Not what {@code statfs} reports: that leaves out the journal, the log
 * and the metadata, so it is always smaller than the device.
 *
 * @param blockSize the filesystem block size in bytes
 * @param blocks the number of blocks the filesystem spans
 */
public record FilesystemSize(long blockSize, long blocks) {

  public FilesystemSize {
    if (blockSize <= 0 || blocks <= 0) {
      throw new IllegalArgumentException("a filesystem has a positive block size and count");
    }
  }

  /** The filesystem's extent on its device in bytes. */
  public long bytes() {
    return Math.multiplyExact(blockSize, blocks);
  }

  /**
   * Reads {@code dumpe2fs -h} (ext4): its {@code Block count:} and {@code Block size:} lines.
   *
   * @throws StorageException INTERNAL when either is missing or not a number
   */
  public static FilesystemSize parseDumpe2fs(String stdout) {
    Map<String, String> fields = fields(stdout, ':');
    return of("dumpe2fs", fields, "Block size", "Block count");
  }

  /**
   * Reads {@code xfs_io -r -c statfs <mount point>} (xfs): its {@code geom.bsize} and
   * {@code geom.datablocks} lines (the data section; the realtime section is not used here).
   *
   * @throws StorageException INTERNAL when either is missing or not a number
   */
  public static FilesystemSize parseXfsStatfs(String stdout) {
    Map<String, String> fields = fields(stdout, '=');
    return of("xfs_io statfs", fields, "geom.bsize", "geom.datablocks");
  }

  private static Map<String, String> fields(String stdout, char separator) {
    Map<String, String> fields = new HashMap<>();
    for (String line : stdout.split("\n")) {
      int at = line.indexOf(separator);
      if (at > 0) {
        fields.putIfAbsent(line.substring(0, at).strip(), line.substring(at + 1).strip());
      }
    }
    return fields;
  }

  private static FilesystemSize of(String tool, Map<String, String> fields, String sizeKey,
      String countKey) {
    long size = number(tool, fields, sizeKey);
    long count = number(tool, fields, countKey);
    if (size <= 0 || count <= 0) {
      throw new StorageException(ErrorKind.INTERNAL, tool + " reported a filesystem of "
          + count + " blocks of " + size + " bytes");
    }
    return new FilesystemSize(size, count);
  }

  private static long number(String tool, Map<String, String> fields, String key) {
    String value = fields.get(key);
    if (value == null) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read " + tool + " output: no '"
          + key + "'");
    }
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read " + tool + " output: '" + key
          + "' is '" + Printable.of(value, 40) + "', not a number");
    }
  }
}
