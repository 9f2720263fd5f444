package io.csi.pvestorage.storage;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.BitSet;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names on disk, the same for both backends.
 *
 * <p><b>Volumes.</b> A CSI request name becomes {@code vm-<owner>-<tail>} (raw) or
 * {@code subvol-<owner>-<tail>} (ZFS datasets), PVE's grammar, so that {@code pvesm list} shows
 * the volumes and PVE numbers its own disks around them. The tail is the CSI name itself when it
 * is already safe everywhere (lower-case letters, digits, '.' and '-', starting and ending
 * alphanumeric, short enough, and not of the form {@code disk-N}, which belongs to PVE's
 * automatic names) — the usual {@code pvc-<uuid>} is. Any other name becomes a sanitised prefix
 * plus {@code -} and 16 hex digits of its SHA-256, which keeps the mapping deterministic and, for
 * all practical purposes, collision-free. The whole volume name is at most {@value #MAX_VOLNAME}
 * characters, which keeps snapshot LV names ({@code snap_<volname>_<snap>}, 127 at most) and CSI
 * snapshot IDs ({@code <storeid>:<volname>@<snap>}, 128 bytes at most) within their limits.
 * Underscores never appear, so LVM's reserved name parts ({@code _tdata}, {@code _tmeta}, ...)
 * cannot either.
 *
 * <p><b>Snapshots.</b> A CSI snapshot name becomes a PVE snapshot name ({@link
 * SnapshotId#SNAP_NAME}, at most 40 characters) the same way: as is when valid, else a prefix
 * plus a hash. The usual {@code snapshot-<uuid>} (45 characters) is too long and is hashed.
 *
 * <p>The CSI name itself is recorded on the volume or snapshot (LV tags, ZFS user properties),
 * so lookups never need to invert this mapping.
 */
public final class VolumeNames {

  /** The longest volume name this driver creates. */
  public static final int MAX_VOLNAME = 64;

  /** How the snapshot a PVC clone takes of its source begins ({@link #cloneSnapshotFor}). */
  public static final String CLONE_SNAPSHOT_PREFIX = "clone-of-";

  /** PVE's limit on automatic disk numbers per owner ({@code $MAX_VOLUMES_PER_GUEST}). */
  public static final int MAX_DISKS_PER_OWNER = 1024;

  private static final Pattern SAFE_TAIL = Pattern.compile("[a-z0-9]([a-z0-9.-]*[a-z0-9])?");
  private static final Pattern AUTO_NAME = Pattern.compile("disk-[0-9]+");
  private static final int HASH_HEX = 16;

  private VolumeNames() {}

  /**
   * The volume name for a CSI request name.
   *
   * @param csiName the CSI name (any Unicode text)
   * @param owner the owner ID (0..999999999)
   * @param format raw gives {@code vm-}, subvol gives {@code subvol-}
   */
  public static String volnameFor(String csiName, long owner, ImageFormat format) {
    String prefix = (format == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-";
    int budget = MAX_VOLNAME - prefix.length();
    String tail = csiName;
    if (!SAFE_TAIL.matcher(tail).matches() || tail.length() > budget
        || AUTO_NAME.matcher(tail).matches()) {
      tail = hashed(csiName, budget, "v");
    }
    return prefix + tail;
  }

  /** The PVE snapshot name for a CSI snapshot name. */
  public static String snapNameFor(String csiName) {
    if (SnapshotId.SNAP_NAME.matcher(csiName).matches() && !csiName.equals("current")) {
      return csiName;
    }
    // PVE's snapshot grammar has no '.', which volume names allow.
    String name = hashed(csiName, 40, "s").replace('.', '-');
    return Character.isLetter(name.charAt(0)) ? name : "s" + name.substring(1);
  }

  /**
   * The name of the snapshot a PVC clone takes of its source for as long as the clone is being
   * made: {@value #CLONE_SNAPSHOT_PREFIX} and the new volume's name, so that a retry after a
   * crash finds and reuses it. It carries no CSI name, so it is never listed as a
   * VolumeSnapshot.
   */
  public static String cloneSnapshotFor(String targetVolname) {
    return snapNameFor(CLONE_SNAPSHOT_PREFIX + targetVolname);
  }

  /**
   * Whether a snapshot name is one {@link #cloneSnapshotFor} makes. A CSI snapshot may have such
   * a name too; only the missing CSI name tells a clone's snapshot apart.
   */
  public static boolean isCloneSnapshotName(String snapName) {
    return snapName.startsWith(CLONE_SNAPSHOT_PREFIX);
  }

  /** A sanitised prefix of {@code name} plus '-' and a hash, at most {@code budget} long. */
  private static String hashed(String name, int budget, String empty) {
    String clean = name.toLowerCase(Locale.ROOT)
        .replaceAll("[^a-z0-9.-]+", "-")
        .replaceAll("-{2,}", "-")
        .replaceAll("^[^a-z0-9]+", "")
        .replaceAll("[^a-z0-9]+$", "");
    int keep = budget - HASH_HEX - 1;
    if (clean.length() > keep) {
      clean = clean.substring(0, keep).replaceAll("[^a-z0-9]+$", "");
    }
    if (clean.isEmpty()) {
      clean = empty;
    }
    return clean + "-" + sha256Hex(name).substring(0, HASH_HEX);
  }

  private static String sha256Hex(String text) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256")
          .digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }

  /**
   * PVE's {@code find_free_diskname}: the first {@code <prefix>-<owner>-disk-N}, N in 0..1023,
   * whose number no existing name takes. A name takes N when it contains (anywhere, so
   * {@code snap_vm-100-disk-3_x} and {@code del-vm-100-disk-3} count) the first match of
   * {@code (vm|base)-<owner>-disk-(\d+)}, or with {@code subvolFamily} (ZFS) of
   * {@code (vm|base|subvol|basevol)-<owner>-disk-(\d+)}.
   *
   * @param existing every name in the namespace (all LVs of the VG; all datasets of the pool)
   * @param subvolFamily whether subvol and basevol names share the numbers (ZFS)
   * @param storeId for the error message
   * @throws StorageException EXHAUSTED when all numbers are taken
   */
  public static String findFreeDiskname(Collection<String> existing, long owner,
      ImageFormat format, boolean subvolFamily, String storeId) {
    Pattern taken = Pattern.compile(
        (subvolFamily ? "(vm|base|subvol|basevol)" : "(vm|base)") + "-" + owner + "-disk-(\\d+)");
    BitSet used = new BitSet(MAX_DISKS_PER_OWNER);
    for (String name : existing) {
      Matcher m = taken.matcher(name);
      if (m.find()) {
        String digits = m.group(2);
        if (digits.length() <= 4) {
          int n = Integer.parseInt(digits);
          if (n < MAX_DISKS_PER_OWNER) {
            used.set(n);
          }
        }
      }
    }
    int free = used.nextClearBit(0);
    if (free >= MAX_DISKS_PER_OWNER) {
      throw new StorageException(ErrorKind.EXHAUSTED, "unable to allocate an image name for VM "
          + owner + " in storage '" + storeId + "'");
    }
    String prefix = format == ImageFormat.SUBVOL ? "subvol" : "vm";
    return prefix + "-" + owner + "-disk-" + free;
  }
}
