package io.csi.pvestorage.storage.lvmthin;

import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The capacity of a thin pool under a {@link CapacityPolicy}, from one {@code lvs} listing.
 *
 * <p>The formula (all in bytes; {@code total} = the pool's {@code lv_size}, {@code used} =
 * {@code data_percent × total / 100}, {@code metaUsed} = {@code metadata_percent ×
 * lv_metadata_size / 100}, {@code provisioned} = the sum of {@code lv_size} of every thin LV in
 * the pool, snapshots and bases included, since each may be written up to its size):
 *
 * <pre>
 *   dataFull     = data_percent     ≥ dataLimitPercent
 *   metadataFull = metadata_percent ≥ metadataLimitPercent
 *   allocatable  = dataFull or metadataFull ? 0
 *                : max(0, floor(total × overcommit) − provisioned)
 * </pre>
 *
 * <p>The thresholds compare LVM's own percentages (two decimals), not the rounded byte values.
 *
 * <p>The limits are thresholds, not reservations: below them the pool may hand out up to
 * {@code overcommit} times its size in virtual sizes; at or above either of them it hands out
 * nothing, so that a filling pool stops taking new volumes before writes start failing. PVE
 * reports neither metadata nor overcommit (section 2.12); this is our addition.
 *
 * <p>LVM reports no usage for an inactive pool; {@code used} and {@code metaUsed} are then 0
 * and {@link PoolStatus#active()} is false, so callers can tell.
 */
public final class ThinCapacity {

  private ThinCapacity() {}

  /**
   * The status of {@code pool} (a thin pool row) given every LV of its VG.
   */
  public static PoolStatus of(LogicalVolume pool, List<LogicalVolume> vgVolumes,
      CapacityPolicy policy) {
    long total = pool.sizeBytes();
    long used = pool.dataUsedBytes().orElse(0);
    OptionalLong metaTotal = pool.metadataSizeBytes();
    OptionalLong metaUsed = pool.metadataUsedBytes();
    long provisioned = 0;
    for (LogicalVolume lv : vgVolumes) {
      if (lv.isThinVolumeIn(pool.name())) {
        provisioned = Math.addExact(provisioned, lv.sizeBytes());
      }
    }
    boolean dataFull = atLeast(pool.dataPercent(), policy.dataLimitPercent());
    boolean metadataFull = atLeast(pool.metadataPercent(), policy.metadataLimitPercent());
    long allocatable = 0;
    if (!dataFull && !metadataFull) {
      BigInteger limit = new BigDecimal(total).multiply(BigDecimal.valueOf(policy.overcommit()))
          .setScale(0, RoundingMode.FLOOR).toBigInteger();
      BigInteger room = limit.subtract(BigInteger.valueOf(provisioned));
      allocatable = room.signum() <= 0 ? 0
          : room.min(BigInteger.valueOf(Long.MAX_VALUE)).longValueExact();
    }
    return new PoolStatus(total, used, Math.max(0, total - used), provisioned, metaTotal,
        metaUsed.isPresent() ? metaUsed : (metaTotal.isPresent() ? OptionalLong.of(0)
            : OptionalLong.empty()),
        allocatable, pool.attr().active());
  }

  /**
   * Why a pool cannot take more, in words an operator can act on: the threshold it has reached
   * (data or metadata, with LVM's own percentage), or, below both, how much the overcommit bound
   * still allows. Used in the RESOURCE_EXHAUSTED answer of a create.
   */
  public static String whyNoRoom(LogicalVolume pool, PoolStatus status, CapacityPolicy policy) {
    List<String> reasons = new java.util.ArrayList<>();
    pool.dataPercent().filter(p -> atLeast(Optional.of(p), policy.dataLimitPercent()))
        .ifPresent(p -> reasons.add("its data is " + p.toPlainString() + " % full (data limit "
            + policy.dataLimitPercent() + " %)"));
    pool.metadataPercent().filter(p -> atLeast(Optional.of(p), policy.metadataLimitPercent()))
        .ifPresent(p -> reasons.add("its metadata is " + p.toPlainString() + " % full (metadata "
            + "limit " + policy.metadataLimitPercent() + " %; lvextend --poolmetadatasize grows "
            + "it)"));
    if (reasons.isEmpty()) {
      reasons.add("its volumes already have " + status.provisionedBytes() + " bytes of "
          + "virtual size, and the overcommit limit (" + policy.overcommit() + " times the "
          + "pool's size) leaves " + status.allocatableBytes() + " bytes");
    }
    return String.join(" and ", reasons);
  }

  /** Whether a reported percentage reaches the limit; an unreported one (inactive) does not. */
  private static boolean atLeast(Optional<BigDecimal> percent, int limit) {
    return percent.map(p -> p.compareTo(BigDecimal.valueOf(limit)) >= 0).orElse(false);
  }
}
