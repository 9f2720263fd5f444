package io.csi.pvestorage.storage;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A snapshot ID, {@code <storeid>:<volname>@<snapname>}, which is also this driver's CSI
 * snapshot ID. The snapname follows PVE's snapshot-name grammar (at most 40 characters).
 */
public record SnapshotId(VolumeId volume, String snapName) {

  /** PVE's {@code pve-snapshot-name}: a letter, then letters, digits, '_' or '-'; 2..40. */
  public static final Pattern SNAP_NAME = Pattern.compile("[a-z][a-z0-9_-]{1,39}");

  public SnapshotId {
    Objects.requireNonNull(volume, "volume");
    Objects.requireNonNull(snapName, "snapName");
  }

  /**
   * Parses {@code <storeid>:<volname>@<snapname>}.
   *
   * @throws StorageException INVALID when the text is not a snapshot ID of this driver
   */
  public static SnapshotId parse(String text) {
    if (text == null) {
      throw new StorageException(ErrorKind.INVALID, "snapshot ID is empty");
    }
    int at = text.lastIndexOf('@');
    if (at <= 0 || text.length() > VolumeId.MAX_LENGTH) {
      throw new StorageException(ErrorKind.INVALID, "snapshot ID '" + text
          + "' is not of the form <storage>:<volume name>@<snapshot name>");
    }
    String snap = text.substring(at + 1);
    if (!SNAP_NAME.matcher(snap).matches()) {
      throw new StorageException(ErrorKind.INVALID, "snapshot ID '" + text + "' has an invalid "
          + "snapshot name '" + snap + "' (a letter, then letters, digits, '_' or '-', at most 40)");
    }
    return new SnapshotId(VolumeId.parse(text.substring(0, at)), snap);
  }

  @Override
  public String toString() {
    return volume + "@" + snapName;
  }
}
