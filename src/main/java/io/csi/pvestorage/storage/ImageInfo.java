package io.csi.pvestorage.storage;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * One disk image of a storage, as {@link StoragePlugin#listImages} reports it (PVE's
 * {@code list_images} entry, plus what this driver records on the volume).
 *
 * @param volid the volume ID
 * @param format raw or subvol
 * @param sizeBytes the provisioned (virtual) size in bytes: LV size, zvol volsize, or dataset
 *     refquota (0 when a dataset has no quota)
 * @param owner the owner ID from the name
 * @param ctime creation time, when the tool reports it
 * @param parent the origin this volume was cloned from, when the tool records one (ZFS)
 * @param metadata the CSI name and claim recorded at creation; empty for volumes this driver
 *     did not create (e.g. a VM disk made by PVE)
 * @param active whether the block device is active (LVM); always true for ZFS
 */
public record ImageInfo(
    VolumeId volid,
    ImageFormat format,
    long sizeBytes,
    long owner,
    Optional<Instant> ctime,
    Optional<String> parent,
    Optional<VolumeMetadata> metadata,
    boolean active) {

  public ImageInfo {
    Objects.requireNonNull(volid, "volid");
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(ctime, "ctime");
    Objects.requireNonNull(parent, "parent");
    Objects.requireNonNull(metadata, "metadata");
  }
}
