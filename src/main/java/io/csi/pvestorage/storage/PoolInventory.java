package io.csi.pvestorage.storage;

import java.util.Objects;
import java.util.Optional;

/**
 * What an operator watches about a storage's pool ({@link StoragePlugin#inventory}): its
 * capacity and what it holds. Read on an interval for the pool metrics, never per request.
 *
 * @param status the capacity, exactly as {@link StoragePlugin#status} computes it
 * @param volumes the images {@link StoragePlugin#listImages} would list (bases included)
 * @param snapshots the snapshots {@link StoragePlugin#listSnapshots} would list (so not ZFS's
 *     {@code __base__} snapshots nor tombstones of deleted snapshots that clones still pin)
 * @param health the pool's health as the tool words it (ZFS: {@code zpool list -o health}, e.g.
 *     {@code ONLINE} or {@code DEGRADED}); empty where the backend has no such notion (LVM-thin)
 */
public record PoolInventory(PoolStatus status, int volumes, int snapshots,
    Optional<String> health) {

  public PoolInventory {
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(health, "health");
  }
}
