package io.csi.pvestorage.app;

import io.csi.pvestorage.app.DriverConfig.LogFormat;
import io.csi.pvestorage.app.DriverConfig.LogLevel;
import io.csi.pvestorage.csi.SafeText;
import java.time.Instant;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * One log pipeline for the whole process: our {@code System.Logger} calls, gRPC's
 * java.util.logging and fabric8's SLF4J (bridged by slf4j-jdk14) all end in one handler on
 * standard error, as text lines or one JSON object per line.
 *
 * <p>Both formats pass every message, and every exception message of a stack trace, through
 * {@link SafeText#logMessage}: a request's secrets are removed, control characters escaped (a
 * name with a newline cannot forge a log line) and long request text cut, whichever code logged
 * it.
 */
final class Logging {

  // java.util.logging keeps loggers only weakly: a level set on a logger nobody holds is lost
  // when it is collected, so the tuned loggers are held here.
  private static final Logger NETTY = Logger.getLogger("io.grpc.netty");
  private static final Logger NETTY_BOOTSTRAP =
      Logger.getLogger("io.grpc.netty.shaded.io.netty.bootstrap");

  private Logging() {}

  static void configure(LogLevel level, LogFormat format) {
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    Level julLevel = switch (level) {
      case ERROR -> Level.SEVERE;
      case WARN -> Level.WARNING;
      case INFO -> Level.INFO;
      case DEBUG -> Level.FINE;
    };
    root.setLevel(julLevel);
    Handler handler = new ConsoleHandler();
    handler.setLevel(julLevel);
    handler.setFormatter(format == LogFormat.JSON ? new JsonFormatter() : new TextFormatter());
    root.addHandler(handler);
    // Netty is chatty at debug; keep it at info unless asked otherwise.
    NETTY.setLevel(level == LogLevel.DEBUG ? Level.INFO : julLevel);
    // grpc-netty sets SO_KEEPALIVE on every channel; unix domain sockets do not have it, and
    // netty warns about that once per connection.
    NETTY_BOOTSTRAP.setLevel(Level.SEVERE);
  }

  private static String levelName(Level level) {
    if (level.intValue() >= Level.SEVERE.intValue()) {
      return "ERROR";
    }
    if (level.intValue() >= Level.WARNING.intValue()) {
      return "WARN";
    }
    if (level.intValue() >= Level.INFO.intValue()) {
      return "INFO";
    }
    return "DEBUG";
  }

  private static String shortName(String logger) {
    if (logger == null) {
      return "";
    }
    return logger.substring(logger.lastIndexOf('.') + 1);
  }

  /** The record's message, safe to write as one line. */
  private static String message(Formatter formatter, LogRecord r) {
    return SafeText.logMessage(formatter.formatMessage(r));
  }

  /**
   * A stack trace whose exception messages are made safe like log messages; the frames, which
   * hold no request text, stay one per line.
   */
  static String stackTrace(Throwable t) {
    StringBuilder text = new StringBuilder();
    Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    String caption = "";
    for (Throwable cause = t; cause != null && seen.add(cause); cause = cause.getCause()) {
      text.append(caption).append(SafeText.logMessage(cause.toString())).append('\n');
      for (StackTraceElement frame : cause.getStackTrace()) {
        text.append("\tat ").append(frame).append('\n');
      }
      caption = "Caused by: ";
    }
    return text.toString();
  }

  /** {@code 2026-11-24T18:00:00.123Z INFO  CsiServer: message}. */
  static final class TextFormatter extends Formatter {
    @Override
    public String format(LogRecord r) {
      StringBuilder line = new StringBuilder()
          .append(r.getInstant())
          .append(' ')
          .append(String.format("%-5s", levelName(r.getLevel())))
          .append(' ')
          .append(shortName(r.getLoggerName()))
          .append(": ")
          .append(message(this, r))
          .append('\n');
      if (r.getThrown() != null) {
        line.append(stackTrace(r.getThrown()));
      }
      return line.toString();
    }
  }

  /** {@code {"time":"...","level":"INFO","logger":"...","msg":"..."}}. */
  static final class JsonFormatter extends Formatter {
    @Override
    public String format(LogRecord r) {
      StringBuilder json = new StringBuilder("{");
      field(json, "time", Instant.ofEpochMilli(r.getMillis()).toString()).append(',');
      field(json, "level", levelName(r.getLevel())).append(',');
      field(json, "logger", r.getLoggerName() == null ? "" : r.getLoggerName()).append(',');
      field(json, "msg", message(this, r));
      if (r.getThrown() != null) {
        json.append(',');
        field(json, "error", stackTrace(r.getThrown()));
      }
      return json.append("}\n").toString();
    }

    private static StringBuilder field(StringBuilder json, String name, String value) {
      json.append('"').append(name).append("\":\"");
      for (int i = 0; i < value.length(); i++) {
        char c = value.charAt(i);
        switch (c) {
          case '"' -> json.append("\\\"");
          case '\\' -> json.append("\\\\");
          case '\n' -> json.append("\\n");
          case '\r' -> json.append("\\r");
          case '\t' -> json.append("\\t");
          default -> {
            if (c < 0x20) {
              json.append(String.format("\\u%04x", (int) c));
            } else {
              json.append(c);
            }
          }
        }
      }
      return json.append('"');
    }
  }
}
