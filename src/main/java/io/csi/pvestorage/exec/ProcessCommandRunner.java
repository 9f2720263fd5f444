package io.csi.pvestorage.exec;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs commands as local processes with {@link ProcessBuilder}: argv only, never a shell.
 *
 * <p>A configurable prefix is put in front of every argv, e.g. {@code nsenter
 * --mount=/proc/1/ns/mnt --}, so that a containerised driver runs the host's own lvm, zfs and
 * udev. Standard output and standard error are drained concurrently while the process runs (a
 * child can never block on a full pipe), each bounded to {@code maxOutputBytes}.
 *
 * <h2>Timeouts, cancellation and the kill policy</h2>
 *
 * A read-only command ({@link Command#readOnly()}) is terminated with its descendants when its
 * timeout expires (UNAVAILABLE) or the calling thread is interrupted by a cancelled RPC
 * (ABORTED); a grace period later whatever is left is killed. A command that changes storage is
 * never terminated: an interrupt is noted, the thread keeps waiting, and once the command has
 * ended its result is returned and the interrupt flag set again, so the caller stops at its next
 * command boundary. Its timeout is a stall threshold: when it passes, and again at each doubling
 * of the time, {@link RunningCommands#reportStall} logs a WARNING and tells the storage lock.
 * A thread that is already interrupted starts no command at all (ABORTED).
 *
 * <p>Every command is recorded in {@link RunningCommands} under this runner's scope from the
 * moment its process exists until it has ended.
 */
public final class ProcessCommandRunner implements CommandRunner {

  private static final System.Logger LOG = System.getLogger(ProcessCommandRunner.class.getName());
  private static final Duration KILL_GRACE = Duration.ofSeconds(2);

  private final List<String> prefix;
  private final int maxOutputBytes;
  private final RunningCommands running;
  private final String scope;

  /**
   * A runner for node-side commands with a registry of its own.
   *
   * @param prefix argv elements put before every command (empty for none)
   * @param maxOutputBytes the most bytes kept of stdout and of stderr each; a command that
   *     writes more fails rather than being parsed from truncated output
   */
  public ProcessCommandRunner(List<String> prefix, int maxOutputBytes) {
    this(prefix, maxOutputBytes, new RunningCommands(), RunningCommands.NODE);
  }

  /**
   * @param prefix argv elements put before every command (empty for none)
   * @param maxOutputBytes the most bytes kept of stdout and of stderr each
   * @param running where running commands are recorded (shared by all runners of a process)
   * @param scope the storage ID these commands belong to, or {@link RunningCommands#NODE}
   */
  public ProcessCommandRunner(List<String> prefix, int maxOutputBytes, RunningCommands running,
      String scope) {
    this.prefix = List.copyOf(Objects.requireNonNull(prefix, "prefix"));
    if (maxOutputBytes <= 0) {
      throw new IllegalArgumentException("maxOutputBytes must be positive");
    }
    this.maxOutputBytes = maxOutputBytes;
    this.running = Objects.requireNonNull(running, "running");
    this.scope = Objects.requireNonNull(scope, "scope");
  }

  /** A runner without prefix and with a 64 MiB output bound. */
  public static ProcessCommandRunner local() {
    return new ProcessCommandRunner(List.of(), 64 << 20);
  }

  /** The prefix put in front of every command. */
  public List<String> prefix() {
    return prefix;
  }

  @Override
  public CommandResult run(Command command) {
    return run(command, LaunchGuard.NONE);
  }

  @Override
  public CommandResult run(Command command, LaunchGuard guard) {
    if (Thread.currentThread().isInterrupted()) {
      // A cancelled call stops at a command boundary: nothing new starts for it.
      throw StorageException.ofCommand(ErrorKind.ABORTED, "the call was cancelled before "
          + command.verb() + " started", command.argv(), null, "");
    }
    List<String> argv = new ArrayList<>(prefix.size() + command.argv().size());
    argv.addAll(prefix);
    argv.addAll(command.argv());
    ProcessBuilder builder = new ProcessBuilder(argv).redirectInput(command.stdin().isPresent()
        ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.from(new File("/dev/null")));
    builder.environment().put("LC_ALL", "C");
    builder.environment().putAll(command.environment());

    long start;
    Process process;
    try (LaunchGuard.Permit permit = guard.enter()) {
      start = System.nanoTime();
      // start() returns once the program has been executed (or failed to), so the process
      // carries the command's environment before the guard's permit is released.
      process = builder.start();
    } catch (IOException e) {
      throw StorageException.ofCommand(
          ErrorKind.UNAVAILABLE,
          "cannot start " + command.program() + ": " + e.getMessage(),
          command.argv(),
          null,
          "");
    }
    RunningCommands.Entry entry = running.started(scope, command, process.pid());
    try {
      command.stdin().ifPresent(secret -> feed(process, secret));
      Future<Captured> stdout = drain(process.getInputStream(), "stdout");
      Future<Captured> stderr = drain(process.getErrorStream(), "stderr");
      if (command.readOnly()) {
        awaitKillable(process, command, stderr);
        return collect(process, command, start, stdout, stderr);
      }
      boolean interrupted = awaitUnkillable(process, command, entry);
      try {
        return collect(process, command, start, stdout, stderr);
      } finally {
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    } finally {
      running.finished(entry);
    }
  }

  /** Waits for a read-only command, killing it on its timeout or an interrupt. */
  private void awaitKillable(Process process, Command command, Future<Captured> stderr) {
    try {
      if (!process.waitFor(command.timeout().toNanos(), TimeUnit.NANOSECONDS)) {
        terminate(process);
        throw StorageException.ofCommand(
            ErrorKind.UNAVAILABLE,
            command.verb() + " timed out after " + human(command.timeout()),
            command.argv(),
            null,
            partial(stderr));
      }
    } catch (InterruptedException e) {
      terminate(process);
      Thread.currentThread().interrupt();
      throw StorageException.ofCommand(
          ErrorKind.ABORTED, command.verb() + " was cancelled", command.argv(), null, "");
    }
  }

  /**
   * Waits for a command that changes storage until it ends, whatever happens meanwhile: an
   * interrupt is remembered, each doubling of its expected time reported as a stall.
   *
   * @return whether the thread was interrupted while waiting
   */
  private boolean awaitUnkillable(Process process, Command command, RunningCommands.Entry entry) {
    long expected = command.timeout().toNanos();
    long begin = System.nanoTime();
    long report = begin + expected;
    boolean interrupted = false;
    while (true) {
      try {
        if (process.waitFor(Math.max(0, report - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          return interrupted;
        }
      } catch (InterruptedException e) {
        if (!interrupted) {
          LOG.log(Level.INFO, () -> command.verb() + " (pid " + process.pid() + ") "
              + RunningCommands.where(entry.scope()) + ": the call was cancelled; the command "
              + "changes storage, so it runs to its end and the call ends after it");
        }
        interrupted = true;
        continue;
      }
      running.reportStall(entry);
      report = begin + 2 * (report - begin);
    }
  }

  /** Builds the result of an ended process, reading what is left of its output. */
  private CommandResult collect(Process process, Command command, long start,
      Future<Captured> stdout, Future<Captured> stderr) {
    Captured out;
    Captured err;
    try {
      out = stdout.get(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      err = stderr.get(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw StorageException.ofCommand(ErrorKind.ABORTED, "cancelled while reading the output of "
          + command.verb() + ", which has ended", command.argv(), null, "");
    } catch (ExecutionException | TimeoutException e) {
      // The streams close when the process exits; only a descendant holding them open (a
      // daemonising tool) keeps them from draining. The command itself has ended.
      throw StorageException.ofCommand(
          ErrorKind.INTERNAL,
          "cannot read the output of " + command.verb() + ": " + e,
          command.argv(),
          null,
          "");
    }
    Duration duration = Duration.ofNanos(System.nanoTime() - start);
    CommandResult result =
        new CommandResult(command, process.exitValue(), out.bytes(), err.bytes(), duration);
    if (out.truncated() || err.truncated()) {
      throw result.failure(
          ErrorKind.INTERNAL,
          command.verb() + " wrote more than " + maxOutputBytes + " bytes of output");
    }
    LOG.log(Level.DEBUG, () -> String.format("ran %s: exit %d in %d ms",
        command.display(), result.exitCode(), duration.toMillis()));
    return result;
  }

  private record Captured(byte[] bytes, boolean truncated) {}

  /**
   * Writes the secret to the child's standard input and closes it, from a virtual thread, so a
   * child that does not read cannot block the caller. A child that exits without reading makes
   * the write fail; its exit code then tells what happened, so the failure is dropped (and it
   * would name nothing but the pipe anyway).
   */
  private static void feed(Process process, Secret secret) {
    Thread.ofVirtual().name("exec-stdin").start(() -> {
      try (var in = process.getOutputStream()) {
        in.write(secret.bytes());
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "the command ended before it read its standard input");
      }
    });
  }

  private Future<Captured> drain(InputStream stream, String name) {
    FutureTask<Captured> task = new FutureTask<>(() -> {
      try (InputStream in = stream) {
        ByteArrayOutputStream kept = new ByteArrayOutputStream();
        byte[] buffer = new byte[16 * 1024];
        boolean truncated = false;
        int n;
        while ((n = in.read(buffer)) >= 0) {
          int room = maxOutputBytes - kept.size();
          if (n > room) {
            truncated = true;
          }
          kept.write(buffer, 0, Math.max(0, Math.min(n, room)));
        }
        return new Captured(kept.toByteArray(), truncated);
      }
    });
    Thread.ofVirtual().name("exec-" + name).start(task);
    return task;
  }

  private static String human(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private static String partial(Future<Captured> stderr) {
    try {
      byte[] bytes = stderr.get(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS).bytes();
      return new String(bytes, StandardCharsets.UTF_8).strip();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "";
    } catch (ExecutionException | TimeoutException e) {
      return "";
    }
  }

  /** SIGTERM to the process tree, then SIGKILL to whatever is left after the grace period. */
  private static void terminate(Process process) {
    List<ProcessHandle> descendants = process.descendants().toList();
    process.destroy();
    descendants.forEach(ProcessHandle::destroy);
    try {
      if (!process.waitFor(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    descendants.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
  }
}
