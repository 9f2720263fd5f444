package io.csi.pvestorage.storage;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One snapshot of a volume.
 *
 * @param id the snapshot ID
 * @param sizeBytes the provisioned size of the volume when the snapshot was taken: the least a
 *     volume restored from it needs (CSI's {@code size_bytes}; never 0)
 * @param ctime creation time
 * @param metadata the CSI name recorded at creation; empty for snapshots made by others
 */
public record SnapshotInfo(
    SnapshotId id, long sizeBytes, Instant ctime, Optional<VolumeMetadata> metadata) {

  public SnapshotInfo {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(ctime, "ctime");
    Objects.requireNonNull(metadata, "metadata");
  }
}
