package io.csi.pvestorage.app;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.metrics.PoolMetrics;
import io.csi.pvestorage.storage.PoolInventory;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import java.util.Collection;
import java.util.List;

/** The storages' pools as sources of the pool metrics: one {@code inventory()} per read. */
final class PoolSources {

  private PoolSources() {}

  /** One {@link PoolMetrics.Pool} per plugin, labelled with its storage ID and type. */
  static List<PoolMetrics.Pool> of(Collection<StoragePlugin> plugins) {
    return plugins.stream()
        .map(p -> new PoolMetrics.Pool(p.storeId(), p.type(), () -> read(p)))
        .toList();
  }

  static PoolMetrics.Reading read(StoragePlugin plugin) {
    PoolInventory inventory;
    try {
      inventory = plugin.inventory();
    } catch (StorageException e) {
      // The metrics package knows no StorageException; keep the tool's stderr in what it logs.
      throw new IllegalStateException(e.describe(), e);
    }
    PoolStatus s = inventory.status();
    return new PoolMetrics.Reading(s.totalBytes(), s.usedBytes(), s.metadataTotalBytes(),
        s.metadataUsedBytes(), s.allocatableBytes(), s.provisionedBytes(), inventory.volumes(),
        inventory.snapshots(), s.active(), inventory.health());
  }
}
