package io.csi.pvestorage.reconcile;

import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What the cluster says exists for this driver: its PersistentVolumes and the snapshot handles
 * of its VolumeSnapshotContents, read completely (a partial read is an error, never a smaller
 * set).
 *
 * @param volumes every PersistentVolume whose {@code spec.csi.driver} is this driver
 * @param snapshotHandles the snapshot handles ({@code status.snapshotHandle}, or {@code
 *     spec.source.snapshotHandle} of a pre-provisioned content) of every VolumeSnapshotContent
 *     whose {@code spec.driver} is this driver
 */
public record ClusterObjects(List<Pv> volumes, List<String> snapshotHandles) {

  public ClusterObjects {
    volumes = List.copyOf(volumes);
    snapshotHandles = List.copyOf(snapshotHandles);
  }

  /**
   * One PersistentVolume of this driver.
   *
   * @param name its name
   * @param uid its UID (for the Events about it)
   * @param volumeHandle {@code spec.csi.volumeHandle}
   * @param node the value of the driver's topology key in its required node affinity, if any
   * @param claim its claim reference as {@code namespace/name}
   * @param capacityBytes {@code spec.capacity.storage}, 0 when absent
   * @param created its creation timestamp
   * @param settled false while it is going away: it has a deletion timestamp, or it is released
   *     (or failed) with reclaim policy Delete, so the provisioner is deleting its volume
   */
  public record Pv(String name, String uid, String volumeHandle, Optional<String> node,
      Optional<String> claim, long capacityBytes, Optional<Instant> created, boolean settled) {

    public Pv {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(uid, "uid");
      Objects.requireNonNull(volumeHandle, "volumeHandle");
      Objects.requireNonNull(node, "node");
      Objects.requireNonNull(claim, "claim");
      Objects.requireNonNull(created, "created");
    }
  }
}
