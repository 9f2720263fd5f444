package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Objects;

/**
 * A path on the host that is safe to hand to mount, umount, mkfs and friends as one argv
 * element: absolute, already normal (no {@code .} or {@code ..} segments, no doubled or trailing
 * slash), free of control characters, and not the root itself. Nothing is resolved on disk; the
 * checks are textual, so they hold whatever namespace the command runs in.
 *
 * @param value the path text
 */
public record HostPath(String value) {

  /** Linux's PATH_MAX; longer paths cannot be used by any tool. */
  public static final int MAX_LENGTH = 4096;

  public HostPath {
    Objects.requireNonNull(value, "value");
    String problem = problem(value);
    if (problem != null) {
      throw new IllegalArgumentException("not a host path: " + problem);
    }
  }

  /**
   * Validates a path that came from a request.
   *
   * @param field the request field, named in the error
   * @throws StorageException INVALID naming the field and what is wrong
   */
  public static HostPath of(String field, String text) {
    if (text == null || text.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, field + " is required");
    }
    String problem = problem(text);
    if (problem != null) {
      throw new StorageException(ErrorKind.INVALID, field + " '" + Printable.of(text) + "' "
          + problem);
    }
    return new HostPath(text);
  }

  /**
   * A path the driver computed itself (a device or a dataset's mountpoint from a storage plugin).
   *
   * @throws StorageException INTERNAL when it is not a valid host path, which is a bug
   */
  public static HostPath of(java.nio.file.Path path) {
    String problem = problem(path.toString());
    if (problem != null) {
      throw new StorageException(ErrorKind.INTERNAL, "path '" + Printable.of(path.toString())
          + "' " + problem);
    }
    return new HostPath(path.toString());
  }

  private static String problem(String text) {
    if (text.length() > MAX_LENGTH) {
      return "is longer than " + MAX_LENGTH + " characters";
    }
    if (text.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
      return "contains control characters";
    }
    if (!text.startsWith("/")) {
      return "must be absolute";
    }
    if (text.equals("/")) {
      return "must not be the root directory";
    }
    if (text.endsWith("/") || text.contains("//")) {
      return "must be normalised (no trailing or doubled '/')";
    }
    for (String segment : text.substring(1).split("/")) {
      if (segment.equals(".") || segment.equals("..")) {
        return "must not contain '.' or '..' segments";
      }
    }
    return null;
  }

  /** Whether this path lies strictly below {@code parent} (textually; nothing is resolved). */
  public boolean isBelow(HostPath parent) {
    return value.startsWith(parent.value + "/");
  }

  @Override
  public String toString() {
    return value;
  }
}
