package io.csi.pvestorage.reconcile;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One thing the reconciler found.
 *
 * @param storage the storage ID
 * @param kind what kind of mismatch it is
 * @param id the volume ID (kinds a and b), the snapshot ID (c), or {@code <storage>:<name in the
 *     pool>} of a hidden volume (d)
 * @param sizeBytes provisioned size (a), PV capacity (b), the size a restore needs (c), bytes held
 *     in the pool (d)
 * @param created when the volume or snapshot was made (the PV's creation for b), when known
 * @param claim the PVC ({@code namespace/name}) recorded on the volume at create time (a, d) or
 *     named by the PV's claim reference (b)
 * @param pvName the PersistentVolume name recorded on the volume (a, d) or the PV itself (b)
 * @param csiName the CSI name recorded on the volume or snapshot (a, c, d)
 * @param note one line for humans: why a PV is listed, the dependents of a hidden volume
 */
public record Orphan(String storage, OrphanKind kind, String id, long sizeBytes,
    Optional<Instant> created, Optional<String> claim, Optional<String> pvName, Optional<String> csiName,
    String note) {

  public Orphan {
    Objects.requireNonNull(storage, "storage");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(created, "created");
    Objects.requireNonNull(claim, "claim");
    Objects.requireNonNull(pvName, "pvName");
    Objects.requireNonNull(csiName, "csiName");
    Objects.requireNonNull(note, "note");
  }
}
