package io.csi.pvestorage.storage;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One snapshot of a volume, or one golden image (a base volume that a VolumeSnapshotClass with
 * {@code base: "true"} made, {@link StoragePlugin#listGoldenImages}).
 *
 * @param id the snapshot ID; a golden image's is {@code <storeid>:<base volname>@}{@value
 *     #GOLDEN}
 * @param sizeBytes the provisioned size of the volume when the snapshot was taken: the least a
 *     volume restored from it needs (CSI's {@code size_bytes}; never 0)
 * @param ctime creation time
 * @param metadata the CSI name recorded at creation; empty for snapshots made by others
 * @param source the volume a golden image was made from, when it is not the ID's own volume
 *     (an ordinary snapshot's source is the volume of its ID)
 */
public record SnapshotInfo(SnapshotId id, long sizeBytes, Instant ctime,
    Optional<VolumeMetadata> metadata, Optional<VolumeId> source) {

  /**
   * The snapshot name of every golden image's ID. A volume of a snapshot ID that is a base
   * ({@code base-}, {@code basevol-}) together with this name marks a golden image: the driver
   * never takes an ordinary snapshot of a base, so the two kinds of ID cannot be mistaken.
   */
  public static final String GOLDEN = "golden";

  public SnapshotInfo {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(ctime, "ctime");
    Objects.requireNonNull(metadata, "metadata");
    Objects.requireNonNull(source, "source");
  }

  /** An ordinary snapshot: its source is the volume of its ID. */
  public SnapshotInfo(SnapshotId id, long sizeBytes, Instant ctime,
      Optional<VolumeMetadata> metadata) {
    this(id, sizeBytes, ctime, metadata, Optional.empty());
  }

  /** The volume this snapshot or golden image was made from (CSI's source_volume_id). */
  public VolumeId sourceVolume() {
    return source.orElse(id.volume());
  }
}
