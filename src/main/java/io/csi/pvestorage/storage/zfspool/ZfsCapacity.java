package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.OptionalLong;

/**
 * The capacity of a zfspool storage under its {@link CapacityPolicy}, from one listing: the
 * formula is documented on {@link ZfsPoolPlugin#status()}.
 */
final class ZfsCapacity {

  private ZfsCapacity() {}

  /**
   * The status from a listing that holds the pool dataset's row and its children.
   *
   * @throws StorageException NOT_FOUND when the pool dataset is not listed
   */
  static PoolStatus of(Listing listing, ZfsPoolStorage storage) {
    ZfsDataset root = listing.root().orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND,
        "pool dataset " + listing.pool() + " of storage " + storage.storeId()
            + " is not listed"));
    long used = root.used();
    long available = root.available().orElse(0);
    long total = used + available;
    long provisioned = 0;
    // live volumes only: a deleted (hidden) one is never written again (see status())
    for (ZfsDataset d : listing.children()) {
      provisioned += d.provisionedBytes();
    }
    long allocatable = allocatable(storage.common().capacity(), storage.sparse(), total, used,
        available, provisioned);
    return new PoolStatus(total, used, available, provisioned, OptionalLong.empty(),
        OptionalLong.empty(), allocatable, true);
  }

  static long allocatable(CapacityPolicy policy, boolean sparse, long total, long used,
      long available, long provisioned) {
    BigInteger t = BigInteger.valueOf(total);
    boolean dataFull = BigInteger.valueOf(used).multiply(BigInteger.valueOf(100))
        .compareTo(t.multiply(BigInteger.valueOf(policy.dataLimitPercent()))) >= 0;
    if (dataFull) {
      return 0;
    }
    BigInteger room = new BigDecimal(t).multiply(BigDecimal.valueOf(policy.overcommit()))
        .setScale(0, RoundingMode.FLOOR).toBigInteger().subtract(BigInteger.valueOf(provisioned));
    long allocatable = room.signum() <= 0 ? 0
        : room.min(BigInteger.valueOf(Long.MAX_VALUE)).longValueExact();
    return sparse ? allocatable : Math.min(allocatable, Math.max(0, available));
  }

  /**
   * EXHAUSTED unless the capacity policy allows {@code moreBytes} more provisioned bytes (and
   * at least something when {@code moreBytes} is 0, a dataset without quota).
   */
  static void requireRoom(Listing listing, ZfsPoolStorage storage, long moreBytes, String what) {
    PoolStatus status = of(listing, storage);
    if (moreBytes > status.allocatableBytes()
        || moreBytes == 0 && status.allocatableBytes() == 0) {
      CapacityPolicy policy = storage.common().capacity();
      throw new StorageException(ErrorKind.EXHAUSTED, "storage " + storage.storeId() + " ("
          + listing.pool() + ") cannot take " + what + " (" + moreBytes + " bytes): "
          + status.allocatableBytes() + " bytes are allocatable under the capacity policy "
          + "(overcommit " + policy.overcommit() + ", data limit " + policy.dataLimitPercent()
          + " %; pool " + status.totalBytes() + " bytes, " + status.usedBytes() + " used, "
          + status.provisionedBytes() + " provisioned)");
    }
  }
}
