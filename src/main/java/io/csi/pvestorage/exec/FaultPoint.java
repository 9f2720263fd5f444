package io.csi.pvestorage.exec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * TEST ONLY: makes this process die, as {@code kill -9} would, right before or right after the
 * Nth command of the next call of one RPC method. The crash suite uses it to prove that a retry
 * after a crash at any step converges with nothing lost and nothing left behind.
 *
 * <p>It exists only when {@code serve} is started with {@code --fault-injection-dir} AND the
 * environment variable {@value #ENABLE_ENV} is {@value #ENABLE_VALUE}; the process then logs a
 * warning at start. A test arms it per call by writing {@value #ARM_FILE} into that directory:
 * one line {@code <Method> <before|after|count> <n>}, for example {@code CreateVolume after 3}.
 * The next call of that method takes (deletes) the file, so a plan fires at most once and a
 * restarted process is never armed by a plan that already fired. {@code count} lets the call
 * run and writes its commands to {@value #COUNTED_FILE} (one {@code <index> <verb> reads|changes}
 * per line, as {@link Command#readOnly()} decides):
 * how the test learns the range of N. Before halting, the step is written to {@value
 * #HALTED_FILE} ({@code before 3 lvcreate}).
 *
 * <p>Only commands run by the thread that serves the armed call count (the operation runs on
 * it, under the lock); the pool gauges' listings and the start-up tool check never do.
 */
public final class FaultPoint {

  /** The environment variable that must be set, besides the flag, for the point to exist. */
  public static final String ENABLE_ENV = "PVE_CSI_FAULT_INJECTION";
  /** The only value of {@value #ENABLE_ENV} that enables it: nobody sets this by accident. */
  public static final String ENABLE_VALUE = "kill-this-process";
  public static final String ARM_FILE = "arm";
  public static final String COUNTED_FILE = "counted";
  public static final String HALTED_FILE = "halted";
  /** The exit status of the halt: the shell's status of a process killed by signal 9. */
  public static final int HALT_STATUS = 137;

  private static final Pattern METHOD = Pattern.compile("[A-Z][A-Za-z]{1,63}");

  /** When, relative to the Nth command, the process dies; {@code COUNT} never kills. */
  public enum Moment {
    BEFORE,
    AFTER,
    COUNT
  }

  /**
   * One armed call.
   *
   * @param method the bare gRPC method name, e.g. {@code NodeStageVolume}
   * @param n the 1-based index of the command among the call's commands (ignored for COUNT)
   */
  public record Plan(String method, Moment moment, int n) {
    public Plan {
      Objects.requireNonNull(moment, "moment");
      if (method == null || !METHOD.matcher(method).matches()) {
        throw new IllegalArgumentException("not a gRPC method name: " + method);
      }
      if (moment != Moment.COUNT && n < 1) {
        throw new IllegalArgumentException("the command index starts at 1: " + n);
      }
    }

    /** Parses {@code <Method> <before|after|count> <n>}. */
    public static Plan parse(String text) {
      String[] words = text.strip().split("\\s+");
      if (words.length != 3) {
        throw new IllegalArgumentException("want '<Method> <before|after|count> <n>': " + text);
      }
      Moment moment;
      int n;
      try {
        moment = Moment.valueOf(words[1].toUpperCase(Locale.ROOT));
        n = Integer.parseInt(words[2]);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("want '<Method> <before|after|count> <n>': " + text, e);
      }
      return new Plan(words[0], moment, n);
    }

    public String text() {
      return method + " " + moment.name().toLowerCase(Locale.ROOT) + " " + n;
    }
  }

  /** What ends the process; tests replace it to see that it would have. */
  @FunctionalInterface
  public interface Halt {
    Halt RUNTIME = () -> Runtime.getRuntime().halt(HALT_STATUS);

    void halt();
  }

  private final Path directory;
  private final Halt halt;
  private final ThreadLocal<ArmedCall> current = new ThreadLocal<>();

  public FaultPoint(Path directory, Halt halt) {
    this.directory = Objects.requireNonNull(directory, "directory");
    this.halt = Objects.requireNonNull(halt, "halt");
  }

  public Path directory() {
    return directory;
  }

  /**
   * Runs one call's handler on this thread; when the armed plan names {@code method}, the plan
   * is taken and the handler's commands are counted (and may end the process).
   */
  public void runCall(String method, Runnable handler) {
    Optional<Plan> plan = take(method);
    if (plan.isEmpty()) {
      handler.run();
      return;
    }
    ArmedCall call = new ArmedCall(plan.get());
    current.set(call);
    try {
      handler.run();
    } finally {
      current.remove();
      if (call.plan.moment() == Moment.COUNT) {
        write(COUNTED_FILE, String.join("", call.seen));
      }
    }
  }

  /** {@code delegate} with this point in front of and behind each of its commands. */
  public CommandRunner wrap(CommandRunner delegate) {
    Objects.requireNonNull(delegate, "delegate");
    return new CommandRunner() {
      @Override
      public CommandResult run(Command command) {
        return run(command, LaunchGuard.NONE);
      }

      @Override
      public CommandResult run(Command command, LaunchGuard guard) {
        ArmedCall call = current.get();
        if (call == null) {
          return delegate.run(command, guard);
        }
        int index = call.started(command);
        call.maybeHalt(Moment.BEFORE, index, command);
        CommandResult result = delegate.run(command, guard);
        call.maybeHalt(Moment.AFTER, index, command);
        return result;
      }
    };
  }

  /** The plan in the arm file if it names {@code method}; the file is deleted when taken. */
  private Optional<Plan> take(String method) {
    Path arm = directory.resolve(ARM_FILE);
    String text;
    try {
      text = Files.readString(arm, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("fault injection: cannot read " + arm, e);
    }
    Plan plan = Plan.parse(text);
    if (!plan.method().equals(method)) {
      return Optional.empty();
    }
    try {
      Files.delete(arm);
    } catch (IOException e) {
      throw new UncheckedIOException("fault injection: cannot take " + arm, e);
    }
    return Optional.of(plan);
  }

  private void write(String name, String text) {
    try {
      Files.writeString(directory.resolve(name), text, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("fault injection: cannot write " + name, e);
    }
  }

  /** The counting state of one armed call. */
  private final class ArmedCall {
    final Plan plan;
    final List<String> seen = new ArrayList<>();

    ArmedCall(Plan plan) {
      this.plan = plan;
    }

    int started(Command command) {
      seen.add((seen.size() + 1) + " " + command.verb()
          + (command.readOnly() ? " reads" : " changes") + "\n");
      return seen.size();
    }

    void maybeHalt(Moment moment, int index, Command command) {
      if (plan.moment() == moment && plan.n() == index) {
        write(HALTED_FILE, moment.name().toLowerCase(Locale.ROOT) + " " + index + " "
            + command.verb() + "\n");
        halt.halt();
      }
    }
  }
}
