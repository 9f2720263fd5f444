package io.csi.pvestorage.storage;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one parser for sizes written by people: a PVC request, a {@code client --size}, a
 * StorageClass {@code volblocksize}, a storage.cfg {@code blocksize}. It reads Kubernetes
 * quantities, the way a PVC's {@code resources.requests.storage} is written: plain bytes, the
 * binary suffixes {@code Ki Mi Gi Ti Pi Ei} (powers of 1024) and the decimal ones {@code k M G T
 * P E} (powers of 1000), with an optional decimal fraction ({@code 1.5Gi}) rounded up to a whole
 * byte, as Kubernetes rounds storage requests up.
 *
 * <p>Block sizes are the one place where the other convention is at home: ZFS and PVE write
 * {@code 16k} and {@code 1M} and mean powers of 1024, and storage.cfg files say
 * {@code blocksize 16k}. {@link #parseBlockSize} therefore reads the single letters as binary
 * (and accepts the Kubernetes binary suffixes too); both methods share one grammar, so a size is
 * never read by two different hand-written loops.
 */
public final class ByteQuantity {

  private static final Pattern GRAMMAR =
      Pattern.compile("([0-9]{1,19})(?:\\.([0-9]{1,18}))?(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?");

  private static final Map<String, Long> BINARY = Map.of(
      "Ki", 1L << 10, "Mi", 1L << 20, "Gi", 1L << 30, "Ti", 1L << 40, "Pi", 1L << 50,
      "Ei", 1L << 60);
  private static final Map<String, Long> DECIMAL = Map.of(
      "k", 1_000L, "M", 1_000_000L, "G", 1_000_000_000L, "T", 1_000_000_000_000L,
      "P", 1_000_000_000_000_000L, "E", 1_000_000_000_000_000_000L);
  private static final Map<String, Long> ZFS_LETTERS = Map.of(
      "k", 1L << 10, "K", 1L << 10, "M", 1L << 20, "G", 1L << 30, "T", 1L << 40, "P", 1L << 50,
      "E", 1L << 60);

  /** Examples for error messages: what a caller should write instead. */
  public static final String EXAMPLES = "bytes, or a Kubernetes quantity like 512Mi, 1Gi, 1.5Gi "
      + "or 10G (Ki Mi Gi Ti: powers of 1024; k M G T: powers of 1000)";

  private ByteQuantity() {}

  /**
   * Parses a Kubernetes quantity into bytes.
   *
   * @throws IllegalArgumentException when the text is not a quantity of bytes or exceeds a long;
   *     the message says what it is not (callers add the field or flag name)
   */
  public static long parse(String text) {
    return parse(text, DECIMAL);
  }

  /**
   * Parses a block size: bytes, {@code Ki}/{@code Mi}, or ZFS's own {@code 16k}, {@code 1M}
   * where the single letters are powers of 1024.
   *
   * @throws IllegalArgumentException as {@link #parse}
   */
  public static long parseBlockSize(String text) {
    return parse(text, ZFS_LETTERS);
  }

  private static long parse(String text, Map<String, Long> letters) {
    Matcher m = text == null ? null : GRAMMAR.matcher(text.strip());
    if (m == null || !m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a size");
    }
    String suffix = m.group(3);
    Long unit = suffix == null ? Long.valueOf(1) : BINARY.containsKey(suffix)
        ? BINARY.get(suffix) : letters.get(suffix);
    if (unit == null) {
      throw new IllegalArgumentException("'" + text + "' has the unknown suffix " + suffix
          + " (k is lower case)");
    }
    BigDecimal number = new BigDecimal(m.group(1) + (m.group(2) == null ? "" : "." + m.group(2)));
    BigDecimal bytes = number.multiply(BigDecimal.valueOf(unit)).setScale(0, RoundingMode.CEILING);
    try {
      return bytes.longValueExact();
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("'" + text + "' is more bytes than fit in 64 bits", e);
    }
  }
}
