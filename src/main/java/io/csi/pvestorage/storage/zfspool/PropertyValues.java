package io.csi.pvestorage.storage.zfspool;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Reversible encoding of free text (CSI names, claim names) into ZFS user property values.
 *
 * <p>{@code zfs list -H} separates columns with tabs and rows with newlines, so a value with a
 * tab or newline would shift every later column. Every byte of the UTF-8 form outside printable
 * ASCII ({@code 0x21..0x7e}), plus {@code %} itself, is therefore written as {@code %XX}. The
 * text {@code -} is what zfs prints for an unset property, so a value that is exactly {@code -}
 * is written {@code %2D}. Plain names such as {@code pvc-0f3e...} stay readable for operators.
 */
final class PropertyValues {

  private static final byte[] HEX = "0123456789ABCDEF".getBytes(StandardCharsets.US_ASCII);

  private PropertyValues() {}

  static String encode(String text) {
    if (text.equals("-")) {
      return "%2D";
    }
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length + 8);
    for (byte b : bytes) {
      int c = b & 0xff;
      if (c >= 0x21 && c <= 0x7e && c != '%') {
        out.write(c);
      } else {
        out.write('%');
        out.write(HEX[c >> 4]);
        out.write(HEX[c & 0xf]);
      }
    }
    return out.toString(StandardCharsets.US_ASCII);
  }

  /**
   * The text of a property column: empty for {@code -} (unset) and for an empty value; other
   * text decoded. A malformed escape (set by hand) is kept literally rather than rejected.
   */
  static Optional<String> decode(String column) {
    if (column.isEmpty() || column.equals("-")) {
      return Optional.empty();
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(column.length());
    byte[] raw = column.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] == '%' && i + 2 < raw.length && hex(raw[i + 1]) >= 0 && hex(raw[i + 2]) >= 0) {
        out.write(hex(raw[i + 1]) << 4 | hex(raw[i + 2]));
        i += 2;
      } else {
        out.write(raw[i]);
      }
    }
    return Optional.of(out.toString(StandardCharsets.UTF_8));
  }

  private static int hex(byte b) {
    if (b >= '0' && b <= '9') {
      return b - '0';
    }
    if (b >= 'A' && b <= 'F') {
      return b - 'A' + 10;
    }
    if (b >= 'a' && b <= 'f') {
      return b - 'a' + 10;
    }
    return -1;
  }
}
