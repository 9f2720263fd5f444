package io.csi.pvestorage.storage.lvmthin;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;

/**
 * The ten characters of LVM's {@code lv_attr} column, decoded into the facts this backend acts
 * on (lvs(8), "lv_attr bits"). Example: {@code Vwi-a-tz-k} is an active thin volume that skips
 * activation (a thin snapshot).
 *
 * @param volumeType bit 1: what kind of LV it is
 * @param writable bit 2 is {@code w} (read-only bases and snapshots have {@code r})
 * @param active bit 5 is {@code a}
 * @param open bit 6 is {@code o}: a process or a mount holds the device
 * @param activationSkip bit 10 is {@code k}: plain activation ignores the LV; {@code -K} is
 *     needed (thin snapshots by default, bases after {@code create_base})
 * @param text the raw column, for messages
 */
public record LvAttr(
    VolumeType volumeType, boolean writable, boolean active, boolean open,
    boolean activationSkip, String text) {

  /** Bit 1 of {@code lv_attr}, the LV kinds this backend distinguishes. */
  public enum VolumeType {
    /** {@code V}: a thin volume (a volume, a thin snapshot, a clone, a base). */
    THIN_VOLUME,
    /** {@code t}: a thin pool. */
    THIN_POOL,
    /** Anything else: plain, mirror, raid, cache, pool internals, ... */
    OTHER
  }

  /**
   * Decodes an {@code lv_attr} value.
   *
   * @throws StorageException INTERNAL when the text is not ten characters (lvs output that this
   *     parser does not understand)
   */
  public static LvAttr parse(String text) {
    if (text == null || text.length() != 10) {
      throw new StorageException(ErrorKind.INTERNAL,
          "lvs reported an lv_attr that is not 10 characters: '" + text + "'");
    }
    VolumeType type = switch (text.charAt(0)) {
      case 'V' -> VolumeType.THIN_VOLUME;
      case 't' -> VolumeType.THIN_POOL;
      default -> VolumeType.OTHER;
    };
    return new LvAttr(type, text.charAt(1) == 'w', text.charAt(4) == 'a',
        text.charAt(5) == 'o', text.charAt(9) == 'k', text);
  }
}
