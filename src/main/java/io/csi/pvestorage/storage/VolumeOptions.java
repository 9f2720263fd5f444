package io.csi.pvestorage.storage;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Per-volume overrides of a storage's allocation settings, from a StorageClass.
 *
 * @param volBlockSizeBytes ZFS {@code volblocksize} for new zvols, in bytes
 * @param sparse ZFS: new zvols without refreservation
 */
public record VolumeOptions(OptionalLong volBlockSizeBytes, Optional<Boolean> sparse) {

  /** No overrides: the storage's own settings. */
  public static final VolumeOptions NONE = new VolumeOptions(OptionalLong.empty(), Optional.empty());

  public VolumeOptions {
    Objects.requireNonNull(volBlockSizeBytes, "volBlockSizeBytes");
    Objects.requireNonNull(sparse, "sparse");
  }

  /** Whether any override is set. */
  public boolean isEmpty() {
    return volBlockSizeBytes.isEmpty() && sparse.isEmpty();
  }
}
