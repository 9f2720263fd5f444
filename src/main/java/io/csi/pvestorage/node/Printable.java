package io.csi.pvestorage.node;

/**
 * Request text made safe to put into an error message or a log line: control characters
 * (C0, DEL and C1, where a newline could forge a log line and an escape sequence could rewrite a
 * terminal) are shown as {@code \xNN}, and the text is cut after a bound, so that a megabyte of
 * input never becomes a megabyte of message.
 */
public final class Printable {

  /** Enough to recognise any path or ID a CO sends; longer text is cut. */
  public static final int DEFAULT_LIMIT = 200;

  private Printable() {}

  /** The text, escaped and cut after {@link #DEFAULT_LIMIT} characters. */
  public static String of(String text) {
    return of(text, DEFAULT_LIMIT);
  }

  /** The text, escaped and cut after {@code limit} characters (code points). */
  public static String of(String text, int limit) {
    StringBuilder out = new StringBuilder();
    int[] codePoints = text.codePoints().limit(limit + 1L).toArray();
    for (int i = 0; i < Math.min(limit, codePoints.length); i++) {
      int c = codePoints[i];
      if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
        out.append(String.format("\\x%02x", c));
      } else {
        out.appendCodePoint(c);
      }
    }
    if (codePoints.length > limit) {
      out.append("...(").append(text.length()).append(" characters)");
    }
    return out.toString();
  }
}
