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
 * child can never block on a full pipe), each bounded to {@code maxOutputBytes}. When the
 * timeout expires or the calling thread is interrupted (a cancelled RPC), the process and its
 * descendants are terminated, then killed if they do not exit within a grace period.
 */
public final class ProcessCommandRunner implements CommandRunner {

  private static final System.Logger LOG = System.getLogger(ProcessCommandRunner.class.getName());
  private static final Duration KILL_GRACE = Duration.ofSeconds(2);

  private final List<String> prefix;
  private final int maxOutputBytes;

  /**
   * @param prefix argv elements put before every command (empty for none)
   * @param maxOutputBytes the most bytes kept of stdout and of stderr each; a command that
   *     writes more fails rather than being parsed from truncated output
   */
  public ProcessCommandRunner(List<String> prefix, int maxOutputBytes) {
    this.prefix = List.copyOf(Objects.requireNonNull(prefix, "prefix"));
    if (maxOutputBytes <= 0) {
      throw new IllegalArgumentException("maxOutputBytes must be positive");
    }
    this.maxOutputBytes = maxOutputBytes;
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
    List<String> argv = new ArrayList<>(prefix.size() + command.argv().size());
    argv.addAll(prefix);
    argv.addAll(command.argv());
    ProcessBuilder builder =
        new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    builder.environment().put("LC_ALL", "C");
    builder.environment().putAll(command.environment());

    long start = System.nanoTime();
    Process process;
    try {
      process = builder.start();
    } catch (IOException e) {
      throw StorageException.ofCommand(
          ErrorKind.UNAVAILABLE,
          "cannot start " + command.program() + ": " + e.getMessage(),
          command.argv(),
          null,
          "");
    }
    Future<Captured> stdout = drain(process.getInputStream(), "stdout");
    Future<Captured> stderr = drain(process.getErrorStream(), "stderr");
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
      Captured out = stdout.get(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      Captured err = stderr.get(KILL_GRACE.toMillis(), TimeUnit.MILLISECONDS);
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
    } catch (InterruptedException e) {
      terminate(process);
      Thread.currentThread().interrupt();
      throw StorageException.ofCommand(
          ErrorKind.ABORTED, command.verb() + " was cancelled", command.argv(), null, "");
    } catch (ExecutionException | TimeoutException e) {
      // The streams close when the process exits; only a descendant holding them open (a
      // daemonising tool) keeps them from draining.
      terminate(process);
      throw StorageException.ofCommand(
          ErrorKind.INTERNAL,
          "cannot read the output of " + command.verb() + ": " + e,
          command.argv(),
          null,
          "");
    }
  }

  private record Captured(byte[] bytes, boolean truncated) {}

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
