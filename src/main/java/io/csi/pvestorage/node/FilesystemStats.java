package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;

/**
 * Space and inodes of a mounted filesystem, from {@code stat -f -c} {@value #FORMAT} (the
 * statfs(2) fields: fundamental block size, total, free and available blocks, total and free
 * inodes).
 *
 * @param totalBytes the filesystem's data size
 * @param availableBytes what an unprivileged writer can still use
 * @param usedBytes total minus free (reserved blocks count as free, as df does)
 * @param totalInodes inodes in all
 * @param freeInodes inodes not in use
 */
public record FilesystemStats(long totalBytes, long availableBytes, long usedBytes,
    long totalInodes, long freeInodes) {

  /** The stat format: one line of six decimal numbers. */
  public static final String FORMAT = "%S %b %f %a %c %d";

  /** Inodes in use. */
  public long usedInodes() {
    return Math.max(0, totalInodes - freeInodes);
  }

  /**
   * Parses the output of {@code stat -f -c FORMAT}.
   *
   * @throws StorageException INTERNAL when it is not six non-negative numbers
   */
  public static FilesystemStats parse(String stdout) {
    String[] f = stdout.strip().split("\\s+");
    if (f.length != 6) {
      throw new StorageException(ErrorKind.INTERNAL, "cannot read stat -f output '"
          + stdout.strip() + "': expected 6 numbers");
    }
    long[] n = new long[6];
    for (int i = 0; i < 6; i++) {
      try {
        n[i] = Long.parseLong(f[i]);
      } catch (NumberFormatException e) {
        throw new StorageException(ErrorKind.INTERNAL, "cannot read stat -f output '"
            + stdout.strip() + "': '" + f[i] + "' is not a number");
      }
      if (n[i] < 0) {
        throw new StorageException(ErrorKind.INTERNAL, "stat -f reported a negative count: "
            + stdout.strip());
      }
    }
    long block = n[0];
    long total = Math.multiplyExact(block, n[1]);
    long free = Math.multiplyExact(block, n[2]);
    long available = Math.multiplyExact(block, n[3]);
    return new FilesystemStats(total, available, Math.max(0, total - free), n[4], n[5]);
  }
}
