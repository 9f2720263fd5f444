package io.csi.pvestorage.app;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A small command-line parser for {@code --name=value}, {@code --name value} and bare boolean
 * {@code --name}, driven by a declared table of flags. Unknown flags and missing values are
 * rejected with a {@link UsageException} naming the flag. Environment variables back some flags;
 * a flag on the command line wins.
 *
 * <p>Written by hand rather than with an annotation framework: the daemon's whole command line
 * is a dozen flags, and reflection would cost start-up time.
 */
final class Flags {

  /**
   * One declared flag.
   *
   * @param name without the leading dashes
   * @param env environment variable that supplies a default, or null
   * @param boolFlag whether a bare {@code --name} means {@code true}
   * @param help one line for {@code --help}
   */
  record Spec(String name, String env, boolean boolFlag, String defaultValue, String help) {}

  /** A bad command line: the message names the flag and what is accepted. */
  static final class UsageException extends RuntimeException {
    UsageException(String message) {
      super(message);
    }
  }

  private final Map<String, Spec> specs = new LinkedHashMap<>();
  private final Map<String, String> values = new LinkedHashMap<>();
  private final List<String> positional = new ArrayList<>();

  Flags(List<Spec> declared) {
    for (Spec spec : declared) {
      specs.put(spec.name(), spec);
    }
  }

  /**
   * Reads the arguments. Anything not starting with {@code --} is positional; {@code --} ends
   * flag parsing.
   */
  Flags parse(List<String> args, Map<String, String> env) {
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (arg.equals("--")) {
        positional.addAll(args.subList(i + 1, args.size()));
        break;
      }
      if (!arg.startsWith("--")) {
        positional.add(arg);
        continue;
      }
      String body = arg.substring(2);
      String name = body;
      String value = null;
      int eq = body.indexOf('=');
      if (eq >= 0) {
        name = body.substring(0, eq);
        value = body.substring(eq + 1);
      }
      Spec spec = specs.get(name);
      if (spec == null) {
        throw new UsageException("unknown flag --" + name + " (see --help for the flags)");
      }
      if (value == null) {
        boolean next = i + 1 < args.size() && !args.get(i + 1).startsWith("--");
        if (spec.boolFlag() && !(next && isBoolean(args.get(i + 1)))) {
          value = "true";
        } else if (next) {
          value = args.get(++i);
        } else {
          throw new UsageException("--" + name + " needs a value");
        }
      }
      if (values.containsKey(name)) {
        throw new UsageException("--" + name + " is given twice");
      }
      values.put(name, value);
    }
    for (Spec spec : specs.values()) {
      if (!values.containsKey(spec.name()) && spec.env() != null) {
        String fromEnv = env.get(spec.env());
        if (fromEnv != null && !fromEnv.isEmpty()) {
          values.put(spec.name(), fromEnv);
        }
      }
    }
    return this;
  }

  private static boolean isBoolean(String text) {
    return text.equals("true") || text.equals("false");
  }

  /** The value given on the command line or through the environment, else the default. */
  Optional<String> get(String name) {
    Spec spec = Objects.requireNonNull(specs.get(name), () -> "undeclared flag " + name);
    String value = values.get(name);
    return Optional.ofNullable(value != null ? value : spec.defaultValue());
  }

  /** Whether the flag was given (on the command line or through its environment variable). */
  boolean isSet(String name) {
    return values.containsKey(name);
  }

  List<String> positional() {
    return Collections.unmodifiableList(positional);
  }

  /** The {@code --help} text: one line per flag with its environment variable and default. */
  String help() {
    StringBuilder text = new StringBuilder();
    for (Spec spec : specs.values()) {
      StringBuilder left = new StringBuilder("  --").append(spec.name());
      if (!spec.boolFlag()) {
        left.append(" VALUE");
      }
      text.append(String.format("%-32s %s", left, spec.help()));
      List<String> notes = new ArrayList<>();
      if (spec.env() != null) {
        notes.add("env " + spec.env());
      }
      if (spec.defaultValue() != null && !spec.defaultValue().isEmpty()) {
        notes.add("default " + spec.defaultValue());
      }
      if (!notes.isEmpty()) {
        text.append(" (").append(String.join(", ", notes)).append(')');
      }
      text.append('\n');
    }
    return text.toString();
  }
}
