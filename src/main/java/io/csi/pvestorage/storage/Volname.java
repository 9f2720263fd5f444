package io.csi.pvestorage.storage;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A volume name taken apart the way PVE's {@code parse_volname} does (without its {@code vtype},
 * which is always {@code images} for these plugins).
 *
 * @param name the name of the volume itself (for a ZFS linked clone, the part after the slash)
 * @param owner the owner ID ({@code vmid}) in the name
 * @param baseName the base volume a ZFS linked clone was made from, if the volname says so
 * @param baseOwner the owner ID of that base
 * @param isBase whether the volume is a base ({@code base-} or {@code basevol-})
 * @param format raw or subvol
 */
public record Volname(
    String name,
    long owner,
    Optional<String> baseName,
    OptionalLong baseOwner,
    boolean isBase,
    ImageFormat format) {

  public Volname {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(baseName, "baseName");
    Objects.requireNonNull(baseOwner, "baseOwner");
    Objects.requireNonNull(format, "format");
  }
}
