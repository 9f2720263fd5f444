package io.csi.pvestorage.reconcile;

import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The outcome of one pass over the storages of a node.
 *
 * @param node the node
 * @param at when the pass started
 * @param error why nothing was compared (the API could not be read); then no storage has a
 *     result, since an unread cluster must never look like a cluster without PVs
 * @param storages one result per storage, sorted by storage ID
 */
public record OrphanReport(String node, Instant at, Optional<String> error,
    List<StorageResult> storages) {

  public OrphanReport {
    Objects.requireNonNull(node, "node");
    Objects.requireNonNull(at, "at");
    Objects.requireNonNull(error, "error");
    storages = List.copyOf(storages);
  }

  /**
   * One storage's part.
   *
   * @param storage the storage ID
   * @param backend its type ({@code lvmthin}, {@code zfspool})
   * @param error why the storage could not be listed; then {@code orphans} is empty
   * @param orphans what was found, in the order kind, then ID
   * @param cleaned what this pass deleted (a subset of {@code orphans})
   */
  public record StorageResult(String storage, String backend, Optional<String> error,
      List<Orphan> orphans, List<Orphan> cleaned) {

    public StorageResult {
      Objects.requireNonNull(storage, "storage");
      Objects.requireNonNull(backend, "backend");
      Objects.requireNonNull(error, "error");
      orphans = List.copyOf(orphans);
      cleaned = List.copyOf(cleaned);
    }
  }

  /** Every orphan of every storage. */
  public List<Orphan> orphans() {
    return storages.stream().flatMap(s -> s.orphans().stream()).toList();
  }
}
