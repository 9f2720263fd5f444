package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.VolumeMetadata;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The command lines of the ZFS backend, as pure functions from names that {@link ZfsNames}
 * already checked to argv lists. They follow PVE's ZFSPoolPlugin (pve-storage-semantics.md
 * section 2) except where a method says otherwise. Nothing here runs a command, and no argument
 * is ever interpreted by a shell.
 */
final class ZfsCommands {

  /** The longest encoded value of one of our user properties. */
  private static final int MAX_PROPERTY_VALUE = 1024;

  private ZfsCommands() {}

  // ---- reads ------------------------------------------------------------------------------

  /**
   * One {@code zfs list} of the pool dataset and its children ({@code depth} 1), or also their
   * snapshots ({@code depth} 2 with {@code snapshots}): exact numbers ({@code -p}), no header,
   * tab-separated {@link ZfsListParser#COLUMNS}.
   */
  static List<String> list(String pool, int depth, boolean snapshots) {
    return List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS,
        "-t", snapshots ? "filesystem,volume,snapshot" : "filesystem,volume",
        "-r", "-d", Integer.toString(depth), pool);
  }

  /** The listing columns of one dataset. */
  static List<String> listOne(String dataset) {
    return List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS,
        "-t", "filesystem,volume", dataset);
  }

  /** One snapshot by name, with the listing's columns. */
  static List<String> listSnapshot(String snapshot) {
    return List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS, "-t", "snapshot",
        snapshot);
  }

  /** Whether a dataset is mounted ({@code yes}/{@code no}), asked by name (PVE 3893d27). */
  static List<String> getMounted(String dataset) {
    return List.of("zfs", "get", "-H", "-p", "-o", "value", "mounted", dataset);
  }

  /** The health word of a zpool. */
  static List<String> zpoolHealth(String zpool) {
    return List.of("zpool", "list", "-H", "-o", "health", zpool);
  }

  // ---- changes ----------------------------------------------------------------------------

  /**
   * A zvol: {@code zfs create [-s] [-b <bytes>] [-o <property>=<value>]... -V <KiB>k
   * <dataset>}.
   */
  static List<String> createZvol(boolean sparse, OptionalLong blockSizeBytes,
      List<String> properties, long sizeBytes, String dataset) {
    List<String> argv = new ArrayList<>(List.of("zfs", "create"));
    if (sparse) {
      argv.add("-s");
    }
    blockSizeBytes.ifPresent(b -> {
      argv.add("-b");
      argv.add(Long.toString(b));
    });
    argv.addAll(properties);
    argv.add("-V");
    argv.add(kib(sizeBytes));
    argv.add(dataset);
    return argv;
  }

  /**
   * A filesystem dataset as PVE makes it: {@code zfs create -o acltype=posixacl -o xattr=sa -o
   * refquota=<KiB>k|none [-o <property>=<value>]... <dataset>}, {@code none} for a quota of 0.
   */
  static List<String> createDataset(long quotaBytes, List<String> properties, String dataset) {
    List<String> argv = new ArrayList<>(List.of("zfs", "create", "-o", "acltype=posixacl",
        "-o", "xattr=sa", "-o", "refquota=" + (quotaBytes == 0 ? "none" : kib(quotaBytes))));
    argv.addAll(properties);
    argv.add(dataset);
    return argv;
  }

  /** {@code zfs clone [-o <property>=<value>]... <origin snapshot> <dataset>}. */
  static List<String> clone(List<String> properties, String origin, String dataset) {
    List<String> argv = new ArrayList<>(List.of("zfs", "clone"));
    argv.addAll(properties);
    argv.add(origin);
    argv.add(dataset);
    return argv;
  }

  /** {@code zfs snapshot [-o <property>=<value>]... <dataset>@<snapshot>}. */
  static List<String> snapshot(List<String> properties, String snapshot) {
    List<String> argv = new ArrayList<>(List.of("zfs", "snapshot"));
    argv.addAll(properties);
    argv.add(snapshot);
    return argv;
  }

  /** {@code zfs rename}: of a dataset, or of a snapshot within its dataset. */
  static List<String> rename(String from, String to) {
    return List.of("zfs", "rename", from, to);
  }

  /** A dataset and all its snapshots: {@code zfs destroy -r} (as PVE's free_image). */
  static List<String> destroyRecursively(String dataset) {
    return List.of("zfs", "destroy", "-r", dataset);
  }

  /**
   * Snapshots of one dataset: {@code zfs destroy <dataset>@<snap>[,<snap>]...}, one command for
   * any number of them.
   */
  static List<String> destroySnapshots(String dataset, List<String> snapNames) {
    return List.of("zfs", "destroy", dataset + "@" + String.join(",", snapNames));
  }

  /**
   * One dataset without {@code -r}: {@code zfs destroy <dataset>}, which fails rather than take
   * anything else with it (a snapshot, a clone).
   */
  static List<String> destroyDataset(String dataset) {
    return List.of("zfs", "destroy", dataset);
  }

  /** One snapshot, {@code <dataset>@<snap>}. */
  static List<String> destroySnapshot(String snapshot) {
    return List.of("zfs", "destroy", snapshot);
  }

  /** {@code zfs set <property>=<value>... <dataset>}: several properties in one command. */
  static List<String> set(List<String> assignments, String dataset) {
    List<String> argv = new ArrayList<>(List.of("zfs", "set"));
    argv.addAll(assignments);
    argv.add(dataset);
    return argv;
  }

  /** {@code zfs set volsize=<KiB>k} (zvol) or {@code refquota=<KiB>k} (dataset). */
  static List<String> setSize(boolean zvol, long sizeBytes, String dataset) {
    return List.of("zfs", "set", (zvol ? "volsize=" : "refquota=") + kib(sizeBytes), dataset);
  }

  static List<String> unmount(String dataset) {
    return List.of("zfs", "unmount", dataset);
  }

  static List<String> mount(String dataset) {
    return List.of("zfs", "mount", dataset);
  }

  // ---- zvol device links ------------------------------------------------------------------

  /** Whether the zvol's {@code /dev/zvol} link is there and a block device. */
  static List<String> isBlockDevice(String path) {
    return List.of("test", "-b", path);
  }

  /** The targets of every {@code /dev/zvol} link, one a line ({@code ../../zd16}). */
  static List<String> zvolLinkTargets() {
    return List.of("find", "/dev/zvol", "-type", "l", "-printf", "%l\\n");
  }

  /** The zvol block devices the kernel has ({@code zd0}, {@code zd16}, ...), one a line. */
  static List<String> zvolDevices() {
    return List.of("find", "/sys/block", "-maxdepth", "1", "-name", "zd*", "-printf", "%f\\n");
  }

  /** Asks udev to handle these block devices again, as if they had just changed. */
  static List<String> udevTrigger(List<String> devices) {
    List<String> argv = new ArrayList<>(List.of("udevadm", "trigger", "--action=change"));
    devices.forEach(zd -> argv.add("--sysname-match=" + zd));
    return argv;
  }

  static List<String> udevSettle(long timeoutSeconds) {
    return List.of("udevadm", "settle", "--timeout=" + timeoutSeconds);
  }

  // ---- properties -------------------------------------------------------------------------

  /**
   * The {@code -o} options that record the CSI metadata on what a create, clone or snapshot
   * makes: the volume's CSI name and claim, or (for a snapshot) only the snapshot's CSI name,
   * each encoded by {@link PropertyValues}. None without metadata.
   *
   * @throws StorageException INVALID for an empty CSI name or a value too long for ZFS
   */
  static List<String> metadataOptions(Optional<VolumeMetadata> metadata, boolean snapshot) {
    List<String> argv = new ArrayList<>();
    if (metadata.isEmpty()) {
      return argv;
    }
    VolumeMetadata m = metadata.get();
    if (m.csiName().isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "the CSI name is empty");
    }
    if (snapshot) {
      option(argv, ZfsListParser.SNAPSHOT_CSI_NAME, Optional.of(m.csiName()));
      return argv;
    }
    option(argv, ZfsListParser.CSI_NAME, Optional.of(m.csiName()));
    option(argv, ZfsListParser.PVC_NAMESPACE, m.pvcNamespace());
    option(argv, ZfsListParser.PVC_NAME, m.pvcName());
    option(argv, ZfsListParser.PV_NAME, m.pvName());
    return argv;
  }

  private static void option(List<String> argv, String property, Optional<String> value) {
    if (value.isPresent() && !value.get().isEmpty()) {
      String encoded = PropertyValues.encode(value.get());
      if (encoded.length() > MAX_PROPERTY_VALUE) {
        throw new StorageException(ErrorKind.INVALID, property + " is too long ("
            + value.get().length() + " characters)");
      }
      argv.add("-o");
      argv.add(property + "=" + encoded);
    }
  }

  /** {@code -o <property>=<value>} for a value that needs no encoding (numbers, zfs words). */
  static List<String> option(String property, String value) {
    return List.of("-o", property + "=" + value);
  }

  /** Bytes as zfs takes them here: whole KiB, {@code <n>k} (callers round to 1 MiB first). */
  private static String kib(long bytes) {
    return bytes / 1024 + "k";
  }
}
