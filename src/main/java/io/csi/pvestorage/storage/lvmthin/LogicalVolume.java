package io.csi.pvestorage.storage.lvmthin;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One row of the {@code lvs} report, typed ({@link LvmReportParser}).
 *
 * @param vg the volume group
 * @param name the LV name
 * @param sizeBytes the LV size in bytes (for a thin volume: the virtual size, extent-rounded)
 * @param attr the decoded {@code lv_attr}
 * @param pool the thin pool of a thin volume
 * @param origin the LV a thin snapshot or clone was taken from, while that LV exists
 * @param dataPercent percentage of the data in use (thin pools and active thin volumes; LVM
 *     reports nothing for inactive thin volumes)
 * @param metadataPercent percentage of the metadata in use (thin pools)
 * @param metadataSizeBytes the metadata LV size (thin pools)
 * @param tags the LV tags, in LVM's order
 * @param ctime creation time (LVM keeps whole seconds)
 * @param extentSizeBytes the VG's extent size: the unit LVM rounds LV sizes up to
 */
public record LogicalVolume(
    String vg,
    String name,
    long sizeBytes,
    LvAttr attr,
    Optional<String> pool,
    Optional<String> origin,
    Optional<BigDecimal> dataPercent,
    Optional<BigDecimal> metadataPercent,
    OptionalLong metadataSizeBytes,
    List<String> tags,
    Optional<Instant> ctime,
    OptionalLong extentSizeBytes) {

  private static final BigDecimal HUNDRED = BigDecimal.valueOf(100);

  public LogicalVolume {
    Objects.requireNonNull(vg, "vg");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(attr, "attr");
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(origin, "origin");
    Objects.requireNonNull(dataPercent, "dataPercent");
    Objects.requireNonNull(metadataPercent, "metadataPercent");
    Objects.requireNonNull(metadataSizeBytes, "metadataSizeBytes");
    tags = List.copyOf(tags);
    Objects.requireNonNull(ctime, "ctime");
    Objects.requireNonNull(extentSizeBytes, "extentSizeBytes");
  }

  /** Whether this is a thin volume in the given thin pool. */
  public boolean isThinVolumeIn(String thinPool) {
    return attr.volumeType() == LvAttr.VolumeType.THIN_VOLUME
        && pool.map(thinPool::equals).orElse(false);
  }

  /**
   * Bytes of data in use, as PVE computes it: {@code data_percent * lv_size / 100}, rounded to
   * the nearest byte. LVM reports the percentage with two decimals, so this is approximate to
   * 0.005 % of the size. Empty when LVM reports no percentage (an inactive thin volume).
   */
  public OptionalLong dataUsedBytes() {
    return percentOf(dataPercent, sizeBytes);
  }

  /** Bytes of thin pool metadata in use ({@code metadata_percent * lv_metadata_size / 100}). */
  public OptionalLong metadataUsedBytes() {
    if (metadataSizeBytes.isEmpty()) {
      return OptionalLong.empty();
    }
    return percentOf(metadataPercent, metadataSizeBytes.getAsLong());
  }

  private static OptionalLong percentOf(Optional<BigDecimal> percent, long bytes) {
    return percent.map(p -> OptionalLong.of(p.multiply(BigDecimal.valueOf(bytes))
            .divide(HUNDRED, 0, RoundingMode.HALF_UP).longValueExact()))
        .orElse(OptionalLong.empty());
  }
}
