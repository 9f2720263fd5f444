package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.node.crypt.Encryption;
import io.csi.pvestorage.storage.ByteQuantity;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The StorageClass parameters of a CreateVolume call, parsed once into typed values. Unknown keys
 * are refused with the key named; the {@code csi.storage.k8s.io/*} keys that the
 * external-provisioner adds with {@code --extra-create-metadata} are accepted, and the claim's
 * name and namespace and the PV name are kept so they can be recorded on the volume.
 *
 * @param storage the storage ID from storage.cfg ({@code storage}); required
 * @param fsType filesystem for mount access ({@code fsType}): ext4, xfs, or zfs for a dataset
 * @param volBlockSize ZFS volblocksize for new zvols in bytes ({@code volblocksize})
 * @param sparse ZFS: thin zvols without refreservation ({@code sparse})
 * @param owner owner ID put in the volume name ({@code owner}); else the storage's
 * @param pvcName {@code csi.storage.k8s.io/pvc/name}
 * @param pvcNamespace {@code csi.storage.k8s.io/pvc/namespace}
 * @param pvName {@code csi.storage.k8s.io/pv/name}
 * @param encryption how the volume is encrypted at rest ({@code encryption}); none by default
 */
public record VolumeParameters(
    String storage,
    Optional<String> fsType,
    OptionalLong volBlockSize,
    Optional<Boolean> sparse,
    OptionalLong owner,
    Optional<String> pvcName,
    Optional<String> pvcNamespace,
    Optional<String> pvName,
    Encryption encryption) {

  /** Filesystems a raw volume can be formatted with. */
  public static final Set<String> BLOCK_FILESYSTEMS = Set.of("ext4", "xfs");

  /** The filesystem type meaning "a ZFS dataset, mounted directly". */
  public static final String ZFS = "zfs";

  /** The prefix of the keys the CSI sidecars add and read themselves; all accepted. */
  public static final String K8S_PREFIX = "csi.storage.k8s.io/";

  /** The driver's own parameters (docs/parameters.md lists exactly these; DocsTest checks). */
  public static final Set<String> KEYS =
      Set.of("storage", "fsType", "volblocksize", "sparse", "owner", Encryption.PARAMETER);
  private static final Pattern STORE_ID = Pattern.compile("(?i)[a-z][a-z0-9\\-_.]*[a-z0-9]");
  private static final long MAX_OWNER = 999_999_999L;

  /**
   * Parses and validates the parameters.
   *
   * @throws StorageException INVALID naming the key and what it accepts
   */
  public static VolumeParameters parse(Map<String, String> parameters) {
    Set<String> unknown = new TreeSet<>();
    for (String key : parameters.keySet()) {
      if (!KEYS.contains(key) && !key.startsWith(K8S_PREFIX)) {
        unknown.add(key);
      }
    }
    if (!unknown.isEmpty()) {
      throw invalid("unknown StorageClass parameter" + (unknown.size() > 1 ? "s " : " ")
          + String.join(", ", unknown.stream().map(k -> "'" + k + "'").toList())
          + "; accepted: storage, fsType, volblocksize, sparse, owner, encryption");
    }
    String storage = parameters.get("storage");
    if (storage == null || storage.isBlank()) {
      throw invalid("StorageClass parameter 'storage' is required: name an lvmthin or zfspool "
          + "storage of storage.cfg, e.g. storage: local-lvm");
    }
    if (!STORE_ID.matcher(storage).matches()) {
      throw invalid("StorageClass parameter storage='" + storage + "' is not a storage ID");
    }
    Optional<String> fsType = Optional.ofNullable(parameters.get("fsType"))
        .map(v -> v.toLowerCase(Locale.ROOT));
    if (fsType.isPresent() && !BLOCK_FILESYSTEMS.contains(fsType.get())
        && !fsType.get().equals(ZFS)) {
      throw invalid("StorageClass parameter fsType='" + parameters.get("fsType")
          + "' is not supported; use ext4, xfs, or zfs (a ZFS dataset)");
    }
    OptionalLong blockSize = OptionalLong.empty();
    if (parameters.containsKey("volblocksize")) {
      blockSize = OptionalLong.of(blockSize(parameters.get("volblocksize")));
    }
    Optional<Boolean> sparse = Optional.empty();
    if (parameters.containsKey("sparse")) {
      sparse = Optional.of(bool("sparse", parameters.get("sparse")));
    }
    OptionalLong owner = OptionalLong.empty();
    if (parameters.containsKey("owner")) {
      owner = OptionalLong.of(owner(parameters.get("owner")));
    }
    return new VolumeParameters(storage, fsType, blockSize, sparse, owner,
        nonEmpty(parameters.get(K8S_PREFIX + "pvc/name")),
        nonEmpty(parameters.get(K8S_PREFIX + "pvc/namespace")),
        nonEmpty(parameters.get(K8S_PREFIX + "pv/name")),
        Encryption.parse(Optional.ofNullable(parameters.get(Encryption.PARAMETER))));
  }

  private static Optional<String> nonEmpty(String value) {
    return Optional.ofNullable(value).filter(v -> !v.isBlank());
  }

  private static long blockSize(String value) {
    long bytes;
    try {
      bytes = ByteQuantity.parseBlockSize(value);
    } catch (IllegalArgumentException e) {
      bytes = -1;
    }
    if (bytes < 512 || bytes > 16L * 1024 * 1024 || Long.bitCount(bytes) != 1) {
      throw invalid("StorageClass parameter volblocksize='" + value + "' must be a power of two "
          + "from 512 to 16M, e.g. 16Ki or 16k");
    }
    return bytes;
  }

  private static boolean bool(String key, String value) {
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "1", "true", "yes", "on" -> true;
      case "0", "false", "no", "off" -> false;
      default -> throw invalid("StorageClass parameter " + key + "='" + value
          + "' must be true or false");
    };
  }

  private static long owner(String value) {
    try {
      long n = Long.parseLong(value);
      if (n >= 0 && n <= MAX_OWNER) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw invalid("StorageClass parameter owner='" + value + "' must be an integer from 0 to "
        + MAX_OWNER);
  }

  private static StorageException invalid(String message) {
    return new StorageException(ErrorKind.INVALID, message);
  }
}
