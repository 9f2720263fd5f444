package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.lock.Sleeper;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Runs the argv lists of {@link ZfsCommands} with the plugin's timeout, and the two ways of
 * coping with a failure that every part of the plugin shares: "dataset is busy" is tried again
 * ({@link ZfsPoolPlugin.Options#busyAttempts()} times, {@link
 * ZfsPoolPlugin.Options#busyDelay()} apart, as PVE does), and for a destroy "does not exist" is
 * success. Other failures become {@link ZfsErrors#failure} exceptions.
 */
final class ZfsRunner {

  private final CommandRunner runner;
  private final ZfsPoolPlugin.Options options;
  private final Sleeper sleeper;

  ZfsRunner(CommandRunner runner, ZfsPoolPlugin.Options options, Sleeper sleeper) {
    this.runner = Objects.requireNonNull(runner, "runner");
    this.options = Objects.requireNonNull(options, "options");
    this.sleeper = Objects.requireNonNull(sleeper, "sleeper");
  }

  /** Runs the command; its failure is the caller's to judge. */
  CommandResult run(List<String> argv) {
    return runner.run(Command.of(options.commandTimeout(), argv));
  }

  /** Runs the command and fails with {@code message} unless it succeeds. */
  CommandResult mustRun(List<String> argv, String message) {
    CommandResult result = run(argv);
    if (!result.succeeded()) {
      throw ZfsErrors.failure(result, message);
    }
    return result;
  }

  /** Runs the command, again while busy, and fails with {@code message} unless it succeeds. */
  CommandResult mustRunRetryingBusy(List<String> argv, String message) {
    CommandResult result = retryBusy(argv);
    if (!result.succeeded()) {
      throw ZfsErrors.failure(result, message);
    }
    return result;
  }

  /** A destroy: busy retried, "does not exist" is success (it is gone either way). */
  void destroy(List<String> argv, String message) {
    CommandResult result = retryBusy(argv);
    if (!result.succeeded() && !ZfsErrors.isMissing(result)) {
      throw ZfsErrors.failure(result, message);
    }
  }

  /**
   * An unmount: busy retried, "not currently mounted" is success (it is unmounted either way).
   */
  void unmount(List<String> argv, String message) {
    CommandResult result = retryBusy(argv);
    if (!result.succeeded() && !result.stderrText().contains("not currently mounted")) {
      throw ZfsErrors.failure(result, message);
    }
  }

  /**
   * Waits; an interrupt (a cancelled call) ends the wait with ABORTED and keeps the thread's
   * interrupt flag.
   */
  void pause(Duration duration) {
    try {
      sleeper.sleep(duration);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StorageException(ErrorKind.ABORTED, "interrupted while waiting", e);
    }
  }

  private CommandResult retryBusy(List<String> argv) {
    CommandResult result = run(argv);
    for (int attempt = 1; attempt < options.busyAttempts() && ZfsErrors.isBusy(result);
        attempt++) {
      pause(options.busyDelay());
      result = run(argv);
    }
    return result;
  }
}
