package io.csi.pvestorage.exec;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one place that decides which commands may be killed: the allow-list of commands that only
 * read. Everything not on it (lvcreate, lvremove, lvchange, lvextend, lvrename, every {@code zfs}
 * or {@code zpool} subcommand that is not a listing, mkfs, resize2fs, xfs_growfs, mount, umount,
 * udevadm trigger, mkdir, rm, and any program this list does not know) counts as changing
 * storage and is never killed: see {@link ProcessCommandRunner}.
 *
 * <h2>The allow-list</h2>
 *
 * <ul>
 *   <li>{@code lvs}, {@code vgs}, {@code pvs}: LVM reports (also as {@code lvm lvs} ...);
 *   <li>{@code zfs list|get|holds|version} and {@code zpool list|get|status|iostat|version};
 *   <li>{@code findmnt}, {@code lsblk}, {@code blkid}, {@code stat}, {@code test}, {@code
 *       readlink}, {@code realpath}, {@code dumpe2fs}, {@code xfs_info}: they read devices,
 *       mount tables or file metadata;
 *   <li>{@code find} without an action that writes or runs something ({@code -delete}, {@code
 *       -exec}, {@code -execdir}, {@code -ok}, {@code -okdir}, {@code -fprint}, {@code -fprint0},
 *       {@code -fprintf}, {@code -fls});
 *   <li>{@code blockdev} when every option only asks ({@code --get...}, {@code --report}): {@code
 *       --setro} or {@code --flushbufs} change the device;
 *   <li>{@code udevadm info} and {@code udevadm settle} (which only waits for the event queue);
 *       {@code udevadm trigger} makes udev act and is not on the list.
 * </ul>
 *
 * The program is matched by its base name, so {@code /sbin/lvs} is {@code lvs}. The command
 * prefix ({@code nsenter ... --}) is not part of the argv looked at: it only says where the
 * command runs.
 */
public final class ReadOnlyCommands {

  /** Programs that only read, whatever their arguments. */
  private static final Set<String> READERS = Set.of(
      "lvs", "vgs", "pvs", "findmnt", "lsblk", "blkid", "stat", "test", "readlink", "realpath",
      "dumpe2fs", "xfs_info");

  /** Tools whose first argument is a subcommand, and their subcommands that only read. */
  private static final Map<String, Set<String>> READING_SUBCOMMANDS = Map.of(
      "zfs", Set.of("list", "get", "holds", "version"),
      "zpool", Set.of("list", "get", "status", "iostat", "version"),
      "lvm", Set.of("lvs", "vgs", "pvs", "version"),
      "udevadm", Set.of("info", "settle"));

  /** find's actions that write files or run programs. */
  private static final Set<String> FIND_ACTIONS = Set.of(
      "-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls");

  private ReadOnlyCommands() {}

  /**
   * Whether the command only reads, so that killing it on a timeout or a cancelled call can
   * leave nothing half-changed.
   *
   * @param argv the command's program and arguments, without the command prefix
   */
  public static boolean isReadOnly(List<String> argv) {
    if (argv.isEmpty()) {
      return false;
    }
    String program = argv.get(0).substring(argv.get(0).lastIndexOf('/') + 1);
    if (READERS.contains(program)) {
      return true;
    }
    Set<String> subcommands = READING_SUBCOMMANDS.get(program);
    if (subcommands != null) {
      return argv.size() > 1 && subcommands.contains(argv.get(1));
    }
    return switch (program) {
      case "find" -> argv.stream().skip(1).noneMatch(FIND_ACTIONS::contains);
      case "blockdev" -> argv.size() > 1 && argv.stream().skip(1)
          .filter(a -> a.startsWith("-"))
          .allMatch(a -> a.startsWith("--get") || a.equals("--report"));
      default -> false;
    };
  }
}
