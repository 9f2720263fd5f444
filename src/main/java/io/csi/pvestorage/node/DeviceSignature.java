package io.csi.pvestorage.node;

import java.util.Optional;

/**
 * What {@code blkid -p -o export} found on a device: nothing, or a signature with its type and
 * usage. Any signature at all (a filesystem, swap, a partition table, an LVM PV, RAID metadata)
 * means the device holds something, and the driver then never formats it.
 *
 * @param type the signature's {@code TYPE} (e.g. {@code ext4}, {@code swap}) or the partition
 *     table's {@code PTTYPE}; empty for a blank device
 * @param usage {@code USAGE} ({@code filesystem}, {@code raid}, {@code other}, ...), if reported
 */
public record DeviceSignature(Optional<String> type, Optional<String> usage) {

  /** A device on which blkid found nothing. */
  public static final DeviceSignature BLANK = new DeviceSignature(Optional.empty(), Optional.empty());

  /** Whether blkid found nothing. */
  public boolean blank() {
    return type.isEmpty() && usage.isEmpty();
  }

  /** Whether this is a filesystem of exactly this type. */
  public boolean isFilesystem(String fsType) {
    return usage.map("filesystem"::equals).orElse(false) && type.map(fsType::equals).orElse(false);
  }

  /** For messages. */
  public String describe() {
    return blank() ? "no signature"
        : type.orElse("an unnamed signature") + usage.map(u -> " (" + u + ")").orElse("");
  }

  /**
   * Parses {@code blkid -p -o export} output of exit code 0: {@code KEY=value} lines.
   * Reading {@code PTTYPE} as the type makes a partitioned disk count as used, too.
   */
  public static DeviceSignature parseExport(String stdout) {
    Optional<String> type = Optional.empty();
    Optional<String> partitionTable = Optional.empty();
    Optional<String> usage = Optional.empty();
    for (String line : stdout.split("\n")) {
      int eq = line.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String key = line.substring(0, eq);
      String value = line.substring(eq + 1).strip();
      switch (key) {
        case "TYPE" -> type = Optional.of(value);
        case "PTTYPE" -> partitionTable = Optional.of(value);
        case "USAGE" -> usage = Optional.of(value);
        default -> { }
      }
    }
    Optional<String> table = partitionTable.map(p -> "partition table " + p);
    Optional<String> named = type.isPresent() ? type : table;
    if (named.isEmpty() && usage.isEmpty()) {
      // Exit 0 means blkid found something, even when it names nothing we read.
      return new DeviceSignature(Optional.of("unknown"), Optional.empty());
    }
    return new DeviceSignature(named, usage);
  }
}
