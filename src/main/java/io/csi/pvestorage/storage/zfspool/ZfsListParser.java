package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Parses {@code zfs list -H -p -o <COLUMNS>} output: one row per line, columns separated by
 * exactly one tab, numbers in bytes/seconds, {@code -} for "not applicable / unset". A pure
 * function, tested on output recorded from real OpenZFS.
 */
final class ZfsListParser {

  /** PVE's own user property on snapshots of filesystems (fix #6561); kept compatible. */
  static final String PVE_REFQUOTA = "pve-storage:refquota";
  /** Our user property namespace. */
  static final String NS = "pve-storage.csi.io:";
  static final String CSI_NAME = NS + "csi-name";
  static final String PVC_NAMESPACE = NS + "pvc-namespace";
  static final String PVC_NAME = NS + "pvc-name";
  static final String PV_NAME = NS + "pv-name";
  /**
   * The CSI name of a snapshot. A separate property from {@link #CSI_NAME} because snapshots
   * inherit their dataset's user properties: a snapshot made by someone else would otherwise
   * appear to carry the volume's CSI name.
   */
  static final String SNAPSHOT_CSI_NAME = NS + "snapshot-csi-name";
  /**
   * The volume name a deleted volume had, set on the dataset before it is renamed out of PVE's
   * sight ({@link ZfsDeletion}): what its snapshots are still listed and found under.
   */
  static final String DELETED_VOLNAME = NS + "deleted-volname";

  /** The columns, in order; the listing command and the parser share this list. */
  static final List<String> COLUMN_LIST = List.of(
      "name", "type", "volsize", "refquota", "origin", "creation", "used", "usedbydataset",
      "available", "referenced", "volblocksize", "guid", "createtxg", "clones",
      PVE_REFQUOTA, CSI_NAME, PVC_NAMESPACE, PVC_NAME, PV_NAME, SNAPSHOT_CSI_NAME,
      DELETED_VOLNAME);
  static final String COLUMNS = String.join(",", COLUMN_LIST);

  private ZfsListParser() {}

  /**
   * Parses the whole output.
   *
   * @throws StorageException INTERNAL when a line does not have the expected columns (the
   *     tool changed, or a value broke the format), naming the line
   */
  static List<ZfsDataset> parse(String stdout) {
    List<ZfsDataset> rows = new ArrayList<>();
    for (String line : stdout.split("\n", -1)) {
      if (!line.isEmpty()) {
        rows.add(parseLine(line));
      }
    }
    return rows;
  }

  static ZfsDataset parseLine(String line) {
    String[] f = line.split("\t", -1);
    if (f.length != COLUMN_LIST.size()) {
      throw bad(line, "expected " + COLUMN_LIST.size() + " tab-separated columns, got " + f.length);
    }
    try {
      return new ZfsDataset(
          f[0], f[1], number(f[2]), number(f[3]), text(f[4]),
          required(f[5]), required(f[6]), orZero(f[7]), number(f[8]), required(f[9]),
          number(f[10]), f[11], required(f[12]), clones(f[13]),
          number(f[14]),
          PropertyValues.decode(f[15]), PropertyValues.decode(f[16]),
          PropertyValues.decode(f[17]), PropertyValues.decode(f[18]),
          PropertyValues.decode(f[19]), PropertyValues.decode(f[20]));
    } catch (NumberFormatException e) {
      throw bad(line, "a number column is not a number: " + e.getMessage());
    }
  }

  private static StorageException bad(String line, String why) {
    return new StorageException(ErrorKind.INTERNAL,
        "cannot parse zfs list output (" + why + "): " + line);
  }

  private static OptionalLong number(String column) {
    if (column.isEmpty() || column.equals("-") || column.equals("none")) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(Long.parseLong(column));
  }

  private static long required(String column) {
    return Long.parseLong(column);
  }

  private static long orZero(String column) {
    return number(column).orElse(0);
  }

  private static Optional<String> text(String column) {
    return column.isEmpty() || column.equals("-") ? Optional.empty() : Optional.of(column);
  }

  /** The {@code clones} column: comma-separated names; empty or {@code -} for none. */
  private static List<String> clones(String column) {
    if (column.isEmpty() || column.equals("-")) {
      return List.of();
    }
    return Arrays.stream(column.split(",")).filter(s -> !s.isEmpty()).toList();
  }
}
