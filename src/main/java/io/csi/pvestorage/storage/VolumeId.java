package io.csi.pvestorage.storage;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.config.StorageConfigParser;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A PVE volume ID, {@code <storeid>:<volname>}, which is also this driver's CSI volume ID.
 *
 * <p>The volname is whatever follows the first colon; for ZFS linked clones it may be
 * {@code base-N-disk-M/vm-K-disk-J}. Parsing checks the shape every PVE image name has (the
 * union of the lvmthin and zfspool grammars, {@code <prefix>-<owner>-<name>}), so that text this
 * driver could never have issued (a path, a name with spaces or control characters, an
 * over-long string) is refused here, before any storage is asked; whether the volname is valid
 * for its storage is decided by that storage's plugin ({@link StoragePlugin#parseVolname}).
 */
public record VolumeId(String storeId, String volname) {

  /** CSI limits identifiers to 128 bytes. */
  public static final int MAX_LENGTH = 128;

  /** A PVE image name: an optional ZFS linked-clone base, then the volume itself. */
  private static final Pattern VOLNAME = Pattern.compile(
      "((base|basevol)-[0-9]{1,9}-[A-Za-z0-9_.+:-]+/)?"
          + "(vm|base|subvol|basevol)-[0-9]{1,9}-[A-Za-z0-9_.+:-]+");

  public VolumeId {
    Objects.requireNonNull(storeId, "storeId");
    Objects.requireNonNull(volname, "volname");
  }

  /**
   * Parses {@code <storeid>:<volname>}.
   *
   * @throws StorageException INVALID when the text is not a volume ID of this driver, with a
   *     message that says what was expected
   */
  public static VolumeId parse(String text) {
    if (text == null || text.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "volume ID is empty");
    }
    int colon = text.indexOf(':');
    if (colon <= 0 || colon == text.length() - 1) {
      throw new StorageException(ErrorKind.INVALID, "volume ID '" + text
          + "' is not of the form <storage>:<volume name> (e.g. local-lvm:vm-0-pvc-1)");
    }
    String storeId = text.substring(0, colon);
    String volname = text.substring(colon + 1);
    if (!StorageConfigParser.STORE_ID.matcher(storeId).matches()) {
      throw new StorageException(ErrorKind.INVALID, "volume ID '" + text + "' names no valid "
          + "storage ID before the colon");
    }
    if (text.length() > MAX_LENGTH || !VOLNAME.matcher(volname).matches()) {
      throw new StorageException(ErrorKind.INVALID, "volume ID '" + text + "' is not a volume "
          + "name this driver issues (<vm|base|subvol|basevol>-<owner>-<name> of letters, "
          + "digits, '_', '.', '+', ':' and '-', at most 128 characters in all)");
    }
    return new VolumeId(storeId, volname);
  }

  @Override
  public String toString() {
    return storeId + ":" + volname;
  }
}
