package io.csi.pvestorage.storage.config;

import java.util.List;
import java.util.Optional;

/**
 * The storages this driver knows, as read from a storage.cfg file.
 *
 * @param storages the {@code lvmthin} and {@code zfspool} storages, in file order
 * @param skipped sections of other types that were ignored (e.g. {@code dir: local}), for the
 *     start-up log
 */
public record StorageConfig(List<StorageDefinition> storages, List<String> skipped) {

  public StorageConfig {
    storages = List.copyOf(storages);
    skipped = List.copyOf(skipped);
  }

  /** The storage with this ID, whatever its node restriction. */
  public Optional<StorageDefinition> find(String storeId) {
    return storages.stream().filter(s -> s.storeId().equals(storeId)).findFirst();
  }

  /** The storages usable on this node (enabled, and the node allowed). */
  public List<StorageDefinition> availableOn(String nodeName) {
    return storages.stream().filter(s -> s.availableOn(nodeName)).toList();
  }
}
