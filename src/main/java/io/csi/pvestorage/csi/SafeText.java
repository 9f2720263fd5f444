package io.csi.pvestorage.csi;

import java.nio.charset.StandardCharsets;

/**
 * Text that may carry request input, made safe to echo in a status message or a log line.
 *
 * <ul>
 *   <li>Control characters are escaped (backslash-n, -r, -t, else backslash-u and four hex
 *       digits; the Unicode line and paragraph separators too), so a name with a newline cannot
 *       start a forged log line.
 *   <li>Every run of characters without a space is cut after {@value #RUN_LIMIT} characters and
 *       followed by its full length ({@code  ... (1048576 bytes)}), so a 1 MiB ID comes back as
 *       its beginning while the words around it (what is wrong, what to do) stay whole.
 *   <li>The whole text is bounded as well, for input that is long and full of spaces.
 *   <li>The request's secrets and mount flag values are replaced ({@link Redaction#scrub}).
 * </ul>
 *
 * <p>{@link StatusMapping} applies it to every status description and the process's log
 * formatter to every log record, so no call site can forget it.
 */
public final class SafeText {

  /** The longest run of non-space characters shown as it is. */
  public static final int RUN_LIMIT = 256;

  /**
   * The longest status description, in characters. gRPC sends the description percent-encoded
   * in a trailer, up to three bytes per UTF-8 byte, and clients refuse trailers over 8 KiB by
   * default; 2048 characters of ordinary text stay well inside that.
   */
  public static final int DESCRIPTION_LIMIT = 2048;

  /** The longest log message, in characters (a request body at debug level fits). */
  public static final int LOG_LIMIT = 8192;

  private SafeText() {}

  /** A status description: secrets of the current call removed, escaped and bounded. */
  static String description(String text, Redaction.Sensitive sensitive) {
    return bounded(Redaction.scrub(text, sensitive), DESCRIPTION_LIMIT);
  }

  /**
   * A log message: the secrets of the call this thread serves (if any) removed, escaped and
   * bounded.
   */
  public static String logMessage(String text) {
    return bounded(Redaction.scrub(text, Redaction.currentSensitive()), LOG_LIMIT);
  }

  /**
   * Escapes control characters and cuts long runs and the whole text.
   *
   * @param limit the most characters of output before the final length note
   */
  public static String bounded(String text, int limit) {
    if (text == null) {
      return "";
    }
    StringBuilder out = new StringBuilder(Math.min(text.length(), limit) + 32);
    int runStart = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == ' ') {
        runStart = i + 1;
      } else if (i - runStart >= RUN_LIMIT && !Character.isLowSurrogate(c)) {
        int runEnd = text.indexOf(' ', i);
        runEnd = runEnd < 0 ? text.length() : runEnd;
        // The note starts with a space, so that text bounded twice is cut only once.
        out.append(" ... (").append(utf8Length(text, runStart, runEnd)).append(" bytes)");
        i = runEnd - 1;
        continue;
      }
      if (out.length() >= limit && !Character.isLowSurrogate(c)) {
        out.append(" ... (").append(utf8Length(text, 0, text.length()))
            .append(" bytes in all)");
        return out.toString();
      }
      escape(c, out);
    }
    return out.toString();
  }

  private static void escape(char c, StringBuilder out) {
    switch (c) {
      case '\n' -> out.append("\\n");
      case '\r' -> out.append("\\r");
      case '\t' -> out.append("\\t");
      default -> {
        if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
          out.append(String.format("\\u%04x", (int) c));
        } else {
          out.append(c);
        }
      }
    }
  }

  private static long utf8Length(String text, int from, int to) {
    return text.substring(from, to).getBytes(StandardCharsets.UTF_8).length;
  }
}
