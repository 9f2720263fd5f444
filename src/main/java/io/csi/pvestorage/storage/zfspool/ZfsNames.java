package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.Volname;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names of a {@code zfspool} storage: PVE's volume name grammar (pve-storage-semantics.md
 * section 1.3), snapshot names, owner IDs, and the reserved snapshot names this plugin uses
 * ({@code __base__}, tombstones). Every name is checked here before it reaches {@code zfs}.
 */
final class ZfsNames {

  /** The snapshot that makes a dataset a base (PVE's {@code create_base}). */
  static final String BASE_SNAPSHOT = "__base__";
  /** How a tombstone's snapshot name begins: {@code __deleted_<guid>}. */
  static final String TOMBSTONE_PREFIX = "__deleted_";
  /** The longest volume name accepted. */
  static final int MAX_NAME = 128;

  /** How the name of a deleted volume kept for its snapshots or clones begins. */
  static final String HIDDEN_PREFIX = "csi-deleted-";

  private static final Pattern TOMBSTONE = Pattern.compile("__deleted_[0-9]+");
  private static final Pattern HIDDEN = Pattern.compile("csi-deleted-[0-9]+");
  /** The volume name part of PVE's regex, with the \S+ tail restricted to what ZFS allows. */
  private static final String TAIL = "[A-Za-z0-9_.:-]+";
  /** PVE's zfspool volname regex (section 1.3), strict tail. */
  private static final Pattern VOLNAME = Pattern.compile(
      "(((base|basevol)-([0-9]{1,9})-" + TAIL + ")/)?((base|basevol|vm|subvol)-([0-9]{1,9})-"
          + TAIL + ")");
  /** The name of a dataset PVE lists as a volume (the last path element). */
  private static final Pattern CHILD = Pattern.compile(
      "(vm|base|subvol|basevol)-([0-9]{1,9})-" + TAIL);
  private static final long MAX_OWNER = 999_999_999L;

  private ZfsNames() {}

  /**
   * PVE's regex {@code ^(((base|basevol)-(\d+)-\S+)\/)?((base|basevol|vm|subvol)-(\d+)-\S+)$}
   * (section 1.3) with one deliberate restriction: the {@code \S+} tails may only hold
   * characters ZFS allows in names ({@code A-Z a-z 0-9 _ . : -}), at most 128 in all, so that no
   * name reaches zfs unchecked.
   */
  static Volname parse(String volname) {
    if (volname == null || volname.length() > MAX_NAME) {
      throw new StorageException(ErrorKind.INVALID, "volume name '" + volname
          + "' is not a zfspool volume name (at most " + MAX_NAME + " characters)");
    }
    Matcher m = VOLNAME.matcher(volname);
    if (!m.matches()) {
      throw new StorageException(ErrorKind.INVALID, "volume name '" + volname + "' is not a "
          + "zfspool volume name: expected vm-<id>-<name>, subvol-<id>-<name>, base-..., "
          + "basevol-... or base-<id>-<name>/vm-<id>-<name>");
    }
    String prefix = m.group(6);
    boolean isBase = prefix.equals("base") || prefix.equals("basevol");
    ImageFormat format = prefix.equals("subvol") || prefix.equals("basevol")
        ? ImageFormat.SUBVOL : ImageFormat.RAW;
    return new Volname(m.group(5), Long.parseLong(m.group(7)), Optional.ofNullable(m.group(2)),
        m.group(4) == null ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(m.group(4))),
        isBase, format);
  }

  /**
   * The name a deleted volume is kept under while its CSI snapshots or clones need it: {@code
   * csi-deleted-<guid>}. PVE's volume regex {@code ^(vm|base|subvol|basevol)-(\d+)-(\S+)$} does
   * not match it, so neither PVE nor {@code listImages} lists it and it takes no volume name nor
   * disk number; the guid (the dataset's own, which a rename keeps) makes it unique in the pool
   * and the same on every retry.
   */
  static String hiddenName(ZfsDataset volume) {
    return HIDDEN_PREFIX + volume.guid();
  }

  static boolean isHiddenName(String leafName) {
    return HIDDEN.matcher(leafName).matches();
  }

  /** Whether a dataset directly below the pool has a name PVE lists as a volume. */
  static boolean isVolumeName(String leafName) {
    return leafName.length() <= MAX_NAME && CHILD.matcher(leafName).matches();
  }

  /**
   * A name the caller gives a new volume (allocation, clone): PVE's rule that it starts with
   * {@code vm-<owner>-} (raw) or {@code subvol-<owner>-} (subvol) and is no linked-clone name.
   */
  static String requireNewName(String name, ImageFormat format, long owner) {
    Volname v = parse(name);
    String prefix = (format == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-";
    if (!name.startsWith(prefix) || v.baseName().isPresent()) {
      throw new StorageException(ErrorKind.INVALID, "illegal name '" + name
          + "' - should be '" + prefix + "*'");
    }
    return name;
  }

  /** The name a base gets: {@code vm-} becomes {@code base-}, {@code subvol-} {@code basevol-}. */
  static String baseName(Volname v) {
    return (v.format() == ImageFormat.SUBVOL ? "basevol-" : "base-")
        + v.name().substring(v.name().indexOf('-') + 1);
  }

  static void requireOwner(long owner) {
    if (owner < 0 || owner > MAX_OWNER) {
      throw new StorageException(ErrorKind.INVALID,
          "owner ID must be between 0 and " + MAX_OWNER + ", got " + owner);
    }
  }

  /** A snapshot name of the API ({@link SnapshotId#SNAP_NAME}), or {@code __base__} if allowed. */
  static String requireSnapshot(String snapshot, boolean allowBase) {
    if (snapshot == null || !(SnapshotId.SNAP_NAME.matcher(snapshot).matches()
        || allowBase && snapshot.equals(BASE_SNAPSHOT))) {
      throw new StorageException(ErrorKind.INVALID, "snapshot name '" + snapshot
          + "' is invalid (a letter, then letters, digits, '_' or '-', at most 40)");
    }
    return snapshot;
  }

  /** Whether the API lists a snapshot of this name (not {@code __base__}, no tombstone). */
  static boolean isListedSnapshot(String snapName) {
    return SnapshotId.SNAP_NAME.matcher(snapName).matches();
  }

  static boolean isTombstone(String snapName) {
    return TOMBSTONE.matcher(snapName).matches();
  }

  /**
   * {@code <dataset>@__deleted_<guid>}: unique within the pool (the guid is the snapshot's own),
   * never a valid snapshot name of the API, so its old name is free again.
   */
  static String tombstone(ZfsDataset snapshot) {
    return snapshot.datasetName() + "@" + TOMBSTONE_PREFIX + snapshot.guid();
  }
}
