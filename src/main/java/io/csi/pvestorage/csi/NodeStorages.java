package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.StorageLock;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import java.time.Clock;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The storages this node serves, the storage lock, and how long a call may wait for it: what the
 * Controller and Node services share.
 *
 * <p>Every mutating plugin call goes through {@link #locked}, which takes the storage lock of the
 * volume's storage for exactly that call.
 */
public final class NodeStorages {

  private final String nodeId;
  private final Map<String, StoragePlugin> plugins;
  private final StorageLock lock;
  private final Duration lockWait;
  private final Clock clock;

  /**
   * @param nodeId this node's name (the topology value)
   * @param plugins the lvmthin and zfspool storages available on this node
   * @param lock the storage lock (Lease or local)
   * @param lockWait the longest a call waits for the lock before ABORTED
   */
  public NodeStorages(String nodeId, Collection<StoragePlugin> plugins, StorageLock lock,
      Duration lockWait, Clock clock) {
    this.nodeId = Objects.requireNonNull(nodeId, "nodeId");
    TreeMap<String, StoragePlugin> byId = new TreeMap<>();
    for (StoragePlugin plugin : plugins) {
      if (byId.put(plugin.storeId(), plugin) != null) {
        throw new IllegalArgumentException("storage " + plugin.storeId() + " given twice");
      }
    }
    this.plugins = Map.copyOf(byId);
    this.lock = Objects.requireNonNull(lock, "lock");
    this.lockWait = Objects.requireNonNull(lockWait, "lockWait");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  public String nodeId() {
    return nodeId;
  }

  public Clock clock() {
    return clock;
  }

  /** The storages, sorted by storage ID. */
  public List<StoragePlugin> all() {
    return plugins.values().stream()
        .sorted((a, b) -> a.storeId().compareTo(b.storeId())).toList();
  }

  /** The storage with this ID, if this node serves it. */
  public Optional<StoragePlugin> find(String storeId) {
    return Optional.ofNullable(plugins.get(storeId));
  }

  /**
   * The storage of an existing volume.
   *
   * @throws StorageException NOT_FOUND when this node does not serve the volume's storage
   */
  public StoragePlugin of(VolumeId volume) {
    return find(volume.storeId()).orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND,
        "volume " + volume + ": storage '" + volume.storeId() + "' is not served on node "
            + nodeId + (plugins.isEmpty() ? " (no storages here)"
                : " (storages here: " + String.join(", ", plugins.keySet().stream().sorted()
                    .toList()) + ")")));
  }

  /**
   * Runs one mutating plugin call under the storage lock of {@code plugin}.
   *
   * @param verb what is done ({@code alloc}, {@code free}, {@code snapshot}, ...)
   * @param subject the volume or snapshot it is done to
   * @throws StorageException ABORTED or UNAVAILABLE when the lock cannot be had in time (the
   *     action has not run); else whatever the action throws
   */
  public <T> T locked(StoragePlugin plugin, String verb, String subject, Supplier<T> action) {
    return lock.withLock(plugin.storeId(), Operation.of(verb, subject, clock),
        clock.instant().plus(lockWait), action::get);
  }
}
