package io.csi.pvestorage.node.crypt;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Arrays;
import java.util.Optional;

/**
 * How a volume's data is encrypted at rest: the StorageClass parameter {@code encryption}, which
 * CreateVolume also puts into the volume context ({@link #CONTEXT_KEY}) so the node knows what to
 * do at stage. Only the kind is ever recorded, never a key.
 */
public enum Encryption {
  /** No encryption (the default). */
  NONE("none"),
  /** A LUKS2 container on the raw volume (LVM-thin LV or zvol), the filesystem inside. */
  LUKS2("luks2"),
  /** OpenZFS native encryption of a dataset (its own encryption root). */
  ZFS_NATIVE("zfs-native");

  /** The StorageClass parameter and the volume context key. */
  public static final String PARAMETER = "encryption";

  /** The volume context key that says how the volume is encrypted (absent: not encrypted). */
  public static final String CONTEXT_KEY = PARAMETER;

  private final String value;

  Encryption(String value) {
    this.value = value;
  }

  /** The parameter's spelling. */
  public String value() {
    return value;
  }

  /**
   * The encryption a parameter value names; a missing value is {@link #NONE}.
   *
   * @throws StorageException INVALID naming the parameter and the accepted values
   */
  public static Encryption parse(Optional<String> value) {
    if (value.isEmpty()) {
      return NONE;
    }
    return Arrays.stream(values()).filter(e -> e.value.equals(value.get())).findFirst()
        .orElseThrow(() -> new StorageException(ErrorKind.INVALID, "StorageClass parameter "
            + PARAMETER + "='" + value.get() + "' is not supported; use luks2 (LVM-thin "
            + "volumes and zvols), zfs-native (ZFS datasets) or none"));
  }

  /** The encryption a volume context records; a context without the key is {@link #NONE}. */
  public static Encryption ofContext(java.util.Map<String, String> context) {
    try {
      return parse(Optional.ofNullable(context.get(CONTEXT_KEY)));
    } catch (StorageException e) {
      throw new StorageException(ErrorKind.INVALID, "volume context " + CONTEXT_KEY + "='"
          + context.get(CONTEXT_KEY) + "' is not luks2, zfs-native or none");
    }
  }
}
