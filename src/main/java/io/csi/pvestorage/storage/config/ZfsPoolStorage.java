package io.csi.pvestorage.storage.config;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A {@code zfspool} storage: zvols and filesystem datasets directly below the dataset
 * {@code pool} (e.g. {@code rpool/data}).
 *
 * @param blockSizeBytes volblocksize for new zvols, if configured
 * @param sparse whether new zvols are thin (no refreservation)
 * @param mountpoint where datasets of this storage are mounted, if configured (PVE defaults
 *     to {@code /<pool>})
 */
public record ZfsPoolStorage(
    String storeId,
    String pool,
    OptionalLong blockSizeBytes,
    boolean sparse,
    Optional<String> mountpoint,
    CommonOptions common)
    implements StorageDefinition {

  public ZfsPoolStorage {
    Objects.requireNonNull(storeId, "storeId");
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(blockSizeBytes, "blockSizeBytes");
    Objects.requireNonNull(mountpoint, "mountpoint");
    Objects.requireNonNull(common, "common");
  }

  @Override
  public String type() {
    return "zfspool";
  }
}
