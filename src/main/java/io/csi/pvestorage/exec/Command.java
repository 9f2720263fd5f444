package io.csi.pvestorage.exec;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One external command: an argv list (never a shell string), a timeout, and extra environment
 * variables. {@code LC_ALL=C} is always added by the runner, so tools answer in a stable
 * language.
 *
 * <p>Arguments must already be validated by the caller (names against strict patterns); this
 * type only rejects what no argv may contain (empty program, NUL bytes).
 *
 * <p>Whether the command may be killed follows from its argv alone ({@link #readOnly()}, decided
 * in {@link ReadOnlyCommands}); callers do not choose it.
 *
 * @param argv program and arguments; the program is a bare name or an absolute path
 * @param timeout how long the command should take at most: a read-only command is killed after
 *     it; a command that changes storage is never killed, and running longer than this makes it
 *     a stalled command that is reported (log, metric, readiness) and blocks its storage
 * @param environment extra environment variables for this command only
 * @param stdin what the command reads on its standard input, then end of file; empty for
 *     {@code /dev/null}. Only secrets travel this way (keys never go into argv or the
 *     environment, which other processes of the host can read)
 */
public record Command(List<String> argv, Duration timeout, Map<String, String> environment,
    Optional<Secret> stdin) {

  /** The tools whose first argument is a subcommand that names the operation. */
  private static final List<String> SUBCOMMAND_TOOLS = List.of("zfs", "zpool", "lvm");

  public Command {
    Objects.requireNonNull(argv, "argv");
    Objects.requireNonNull(timeout, "timeout");
    Objects.requireNonNull(environment, "environment");
    Objects.requireNonNull(stdin, "stdin");
    argv = List.copyOf(argv);
    environment = Map.copyOf(new LinkedHashMap<>(environment));
    if (argv.isEmpty() || argv.get(0).isBlank()) {
      throw new IllegalArgumentException("a command needs a program");
    }
    for (String arg : argv) {
      if (arg.indexOf('\0') >= 0) {
        throw new IllegalArgumentException("argument contains a NUL byte: " + argv.get(0));
      }
    }
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive: " + timeout);
    }
  }

  /** A command that reads nothing on standard input. */
  public Command(List<String> argv, Duration timeout, Map<String, String> environment) {
    this(argv, timeout, environment, Optional.empty());
  }

  /** A command with no extra environment. */
  public static Command of(Duration timeout, List<String> argv) {
    return new Command(argv, timeout, Map.of());
  }

  /** A command with no extra environment. */
  public static Command of(Duration timeout, String... argv) {
    return of(timeout, List.of(argv));
  }

  /** This command with {@code extra} added to its environment (replacing equal keys). */
  public Command withEnvironment(Map<String, String> extra) {
    Map<String, String> merged = new LinkedHashMap<>(environment);
    merged.putAll(extra);
    return new Command(argv, timeout, merged, stdin);
  }

  /** This command reading {@code secret} on its standard input. */
  public Command withStdin(Secret secret) {
    return new Command(argv, timeout, environment, Optional.of(secret));
  }

  /**
   * Whether the command only reads and may therefore be killed on its timeout or when the call
   * is cancelled; see {@link ReadOnlyCommands} for the list.
   */
  public boolean readOnly() {
    return ReadOnlyCommands.isReadOnly(argv);
  }

  /** The program, as given in argv[0]. */
  public String program() {
    return argv.get(0);
  }

  /**
   * A short, bounded name of the operation for logs and metric labels: the program's base
   * name, plus the subcommand for tools like {@code zfs create} or {@code zpool list}. Never
   * contains a volume name.
   */
  public String verb() {
    String program = program();
    String base = program.substring(program.lastIndexOf('/') + 1);
    if (SUBCOMMAND_TOOLS.contains(base) && argv.size() > 1 && !argv.get(1).startsWith("-")) {
      return base + " " + argv.get(1);
    }
    return base;
  }

  /** The argv joined with spaces, for messages (not for execution). */
  public String display() {
    return String.join(" ", argv);
  }
}
