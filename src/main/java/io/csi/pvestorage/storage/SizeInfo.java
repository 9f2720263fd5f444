package io.csi.pvestorage.storage;

import java.util.Objects;
import java.util.Optional;

/**
 * Size facts of one volume ({@link StoragePlugin#volumeSizeInfo}).
 *
 * @param sizeBytes the provisioned size in bytes (LV size, volsize, refquota)
 * @param format raw or subvol
 * @param usedBytes bytes actually allocated, where the tool reports it (thin LV data%, ZFS
 *     usedbydataset); 0 when unknown
 * @param parent the origin of a clone, when recorded
 */
public record SizeInfo(long sizeBytes, ImageFormat format, long usedBytes, Optional<String> parent) {

  public SizeInfo {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(parent, "parent");
  }
}
