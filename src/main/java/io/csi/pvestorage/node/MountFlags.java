package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The mount flags a volume capability may carry ({@code VolumeCapability.mount.mount_flags},
 * a StorageClass's {@code mountOptions}), checked against an allow-list before anything is
 * mounted.
 *
 * <p>Why an allow-list: the flags reach {@code mount -o} on the host, as root. A flag list is
 * written by whoever may create a StorageClass or a PersistentVolume, not by the node's
 * operator, and some flags change what the host trusts: {@code exec}, {@code suid} and
 * {@code dev} undo the hardening a CO asks for; {@code remount}, {@code bind}, {@code rbind}
 * and {@code move} turn a mount into another operation on another path; {@code errors=panic}
 * lets a corrupt volume take the whole node down; {@code noload}/{@code norecovery} mount a
 * filesystem without replaying its journal; {@code rw} would override the read-only mount of a
 * reader-only volume; and an unknown flag may be a secret (a {@code password=}) that does not
 * belong in a command line. What is allowed is what tunes a volume's own behaviour:
 *
 * <ul>
 *   <li>on every mount (also the bind of a ZFS dataset), the per-mount flags that only take
 *       rights away or tune access times: {@code ro}, {@code noexec}, {@code nosuid},
 *       {@code nodev}, {@code noatime}, {@code atime}, {@code relatime}, {@code norelatime},
 *       {@code strictatime}, {@code nostrictatime}, {@code nodiratime}, {@code diratime};
 *   <li>on ext4 and xfs, the generic filesystem flags {@code lazytime}, {@code nolazytime},
 *       {@code sync}, {@code async}, {@code dirsync}, {@code discard}, {@code nodiscard},
 *       {@code iversion}, {@code noiversion}, and POSIX ACL, group-ID and quota flags;
 *   <li>ext4 only: {@code data=journal|ordered|writeback}, {@code commit=<seconds>},
 *       {@code errors=continue|remount-ro}, {@code barrier}, {@code nobarrier},
 *       {@code barrier=0|1}, {@code journal_checksum}, {@code nojournal_checksum},
 *       {@code journal_async_commit}, {@code delalloc}, {@code nodelalloc},
 *       {@code auto_da_alloc}, {@code noauto_da_alloc}, {@code dioread_lock},
 *       {@code dioread_nolock}, {@code init_itable=<n>}, {@code noinit_itable},
 *       {@code stripe=<blocks>}, {@code min_batch_time=<us>}, {@code max_batch_time=<us>},
 *       {@code inode_readahead_blks=<n>}, {@code journal_ioprio=0..7}, {@code nombcache},
 *       {@code block_validity}, {@code noblock_validity}, {@code user_xattr},
 *       {@code jqfmt=vfsold|vfsv0|vfsv1};
 *   <li>xfs only: {@code nouuid} (added anyway), {@code inode32}, {@code inode64},
 *       {@code logbufs=2..8}, {@code logbsize=<n>[k]}, {@code allocsize=<n>[k|m|g]},
 *       {@code largeio}, {@code nolargeio}, {@code swalloc}, {@code noalign},
 *       {@code sunit=<n>}, {@code swidth=<n>}, {@code ikeep}, {@code noikeep},
 *       {@code filestreams}, {@code wsync}, {@code attr2}, {@code noattr2}, and xfs's
 *       quota spellings ({@code uquota}, {@code uqnoenforce}, {@code gquota},
 *       {@code gqnoenforce}, {@code pquota}, {@code pqnoenforce}, {@code qnoenforce}).
 * </ul>
 *
 * <p>Anything else, including {@code exec}, {@code suid}, {@code dev}, {@code rw},
 * {@code defaults}, {@code remount}, {@code bind}, {@code rbind}, {@code move}, SELinux
 * contexts and {@code user}/{@code owner} flags, is INVALID_ARGUMENT. A message names the
 * flag's key (the part before {@code =}) and never its value, so a value that is a secret
 * reaches neither the caller's message nor a log.
 */
public final class MountFlags {

  /** Per-mount flags, valid wherever something is mounted, including a bind. */
  static final Set<String> PER_MOUNT = Set.of("ro", "noexec", "nosuid", "nodev", "noatime",
      "atime", "relatime", "norelatime", "strictatime", "nostrictatime", "nodiratime",
      "diratime");

  /** Flags that ext4 and xfs both understand. */
  static final Set<String> BOTH_FILESYSTEMS = Set.of("lazytime", "nolazytime", "sync", "async",
      "dirsync", "discard", "nodiscard", "iversion", "noiversion", "acl", "grpid", "bsdgroups",
      "nogrpid", "sysvgroups", "quota", "noquota", "usrquota", "grpquota", "prjquota");

  private static final Set<String> EXT4 = Set.of("barrier", "nobarrier", "journal_checksum",
      "nojournal_checksum", "journal_async_commit", "delalloc", "nodelalloc", "auto_da_alloc",
      "noauto_da_alloc", "dioread_lock", "dioread_nolock", "noinit_itable", "nombcache",
      "block_validity", "noblock_validity", "user_xattr", "noacl");

  private static final Set<String> XFS = Set.of("nouuid", "inode32", "inode64", "largeio",
      "nolargeio", "swalloc", "noalign", "ikeep", "noikeep", "filestreams", "wsync", "attr2",
      "noattr2", "uquota", "uqnoenforce", "gquota", "gqnoenforce", "pquota", "pqnoenforce",
      "qnoenforce");

  private static final Pattern NUMBER = Pattern.compile("[0-9]{1,9}");

  /** A keyed flag: the pattern its value must match, and how to say so without echoing it. */
  private record Valued(Pattern value, String accepted) {}

  private static final Map<String, Valued> EXT4_VALUED = Map.ofEntries(
      Map.entry("data", new Valued(Pattern.compile("journal|ordered|writeback"),
          "journal, ordered, writeback")),
      Map.entry("commit", new Valued(NUMBER, "a number of seconds")),
      Map.entry("errors", new Valued(Pattern.compile("continue|remount-ro"),
          "continue, remount-ro")),
      Map.entry("barrier", new Valued(Pattern.compile("[01]"), "0, 1")),
      Map.entry("init_itable", new Valued(NUMBER, "a number")),
      Map.entry("stripe", new Valued(NUMBER, "a number of blocks")),
      Map.entry("min_batch_time", new Valued(NUMBER, "a number of microseconds")),
      Map.entry("max_batch_time", new Valued(NUMBER, "a number of microseconds")),
      Map.entry("inode_readahead_blks", new Valued(NUMBER, "a number of blocks")),
      Map.entry("journal_ioprio", new Valued(Pattern.compile("[0-7]"), "0 to 7")),
      Map.entry("jqfmt", new Valued(Pattern.compile("vfsold|vfsv0|vfsv1"),
          "vfsold, vfsv0, vfsv1")));

  private static final Map<String, Valued> XFS_VALUED = Map.of(
      "logbufs", new Valued(Pattern.compile("[2-8]"), "2 to 8"),
      "logbsize", new Valued(Pattern.compile("[0-9]{1,9}k?"), "a size like 32k or 256k"),
      "allocsize", new Valued(Pattern.compile("[0-9]{1,9}[kmg]?"), "a size like 64k or 1m"),
      "sunit", new Valued(NUMBER, "a number of 512-byte units"),
      "swidth", new Valued(NUMBER, "a number of 512-byte units"));

  /** Flags whose refusal deserves a reason of its own. */
  private static final Map<String, String> NEVER = Map.of(
      "exec", "it would undo the CO's noexec",
      "suid", "it would undo the CO's nosuid",
      "dev", "it would undo the CO's nodev",
      "rw", "read-only access is decided by the access mode and the publish request",
      "defaults", "it implies exec, suid and dev",
      "remount", "it is an operation, not a flag",
      "bind", "it is an operation, not a flag",
      "rbind", "it is an operation, not a flag",
      "move", "it is an operation, not a flag");

  private MountFlags() {}

  /**
   * Checks a capability's mount flags for a filesystem and returns them one flag per element
   * (an entry {@code "noatime,nodev"} becomes two, so that nothing can ride along behind a
   * comma).
   *
   * @param flags the request's mount flags, as sent
   * @param fsType {@code ext4}, {@code xfs}, or {@code zfs} (a dataset, bound: per-mount flags
   *     only)
   * @throws StorageException INVALID naming the first flag's key that is not allowed
   */
  public static List<String> check(List<String> flags, String fsType) {
    List<String> out = new ArrayList<>();
    for (String entry : flags) {
      for (String flag : entry.split(",", -1)) {
        String trimmed = flag.strip();
        if (trimmed.isEmpty()) {
          throw new StorageException(ErrorKind.INVALID,
              "mount flags must not be empty (an empty flag or a stray comma)");
        }
        allow(trimmed, fsType);
        out.add(trimmed);
      }
    }
    return List.copyOf(out);
  }

  private static void allow(String flag, String fsType) {
    int eq = flag.indexOf('=');
    String key = eq < 0 ? flag : flag.substring(0, eq);
    String shown = "mount flag '" + Printable.of(key, 64) + "'";
    if (eq < 0) {
      if (PER_MOUNT.contains(key)
          || (!fsType.equals("zfs") && BOTH_FILESYSTEMS.contains(key))
          || (fsType.equals("ext4") && EXT4.contains(key))
          || (fsType.equals("xfs") && XFS.contains(key))) {
        return;
      }
    } else {
      Valued valued = valued(key, fsType);
      if (valued != null) {
        if (valued.value().matcher(flag.substring(eq + 1)).matches()) {
          return;
        }
        throw new StorageException(ErrorKind.INVALID, shown + " has a value this driver does "
            + "not allow on " + fsType + " (allowed: " + valued.accepted() + ")");
      }
    }
    String reason = NEVER.get(key);
    if (reason != null) {
      throw new StorageException(ErrorKind.INVALID, shown + " is never allowed: " + reason);
    }
    if (fsType.equals("zfs")) {
      throw new StorageException(ErrorKind.INVALID, shown + " is not allowed on a ZFS dataset, "
          + "which is bound, not mounted: only " + String.join(", ", PER_MOUNT.stream()
              .sorted().toList()) + " apply; set other options as dataset properties");
    }
    throw new StorageException(ErrorKind.INVALID, shown + " is not in the driver's allow-list "
        + "for " + fsType + " (the list is in the driver's node documentation, node.md); only "
        + "flags that tune the volume itself are accepted");
  }

  private static Valued valued(String key, String fsType) {
    return switch (fsType) {
      case "ext4" -> EXT4_VALUED.get(key);
      case "xfs" -> XFS_VALUED.get(key);
      default -> null;
    };
  }
}
