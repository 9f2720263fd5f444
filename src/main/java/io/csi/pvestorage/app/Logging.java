package io.csi.pvestorage.app;

import io.csi.pvestorage.app.DriverConfig.LogFormat;
import io.csi.pvestorage.app.DriverConfig.LogLevel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
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

  private static String stackTrace(Throwable t) {
    StringWriter text = new StringWriter();
    t.printStackTrace(new PrintWriter(text));
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
          .append(formatMessage(r))
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
      field(json, "msg", formatMessage(r));
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
