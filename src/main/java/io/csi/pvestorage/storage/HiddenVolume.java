package io.csi.pvestorage.storage;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * A deleted volume that a storage keeps because something still depends on it (ZFS: its CSI
 * snapshots, or clones of its snapshots, pin it; see docs/data-safety.md). No volume ID names it
 * any more, and it goes by itself with its last dependent; it is listed so that an operator can
 * see what the pool still holds for deleted volumes ({@link StoragePlugin#listHidden}).
 *
 * @param name the name it has in the pool now, e.g. {@code csi-deleted-1234}
 * @param volname the volume name it had, e.g. {@code vm-0-pvc-1}
 * @param usedBytes the bytes it and its snapshots hold in the pool
 * @param ctime when the volume was created (not when it was deleted)
 * @param metadata the CSI name and claim recorded when it was created
 * @param snapshots how many of its snapshots a VolumeSnapshot may still stand for
 * @param clones how many volumes were cloned from its snapshots and still exist
 */
public record HiddenVolume(String name, String volname, long usedBytes, Instant ctime,
    Optional<VolumeMetadata> metadata, int snapshots, int clones) {

  public HiddenVolume {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(volname, "volname");
    Objects.requireNonNull(ctime, "ctime");
    Objects.requireNonNull(metadata, "metadata");
  }
}
