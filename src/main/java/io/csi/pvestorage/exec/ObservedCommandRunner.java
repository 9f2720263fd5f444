package io.csi.pvestorage.exec;

import io.csi.pvestorage.error.StorageException;
import java.time.Duration;
import java.util.Objects;

/** Reports the duration and outcome of each command of a delegate runner to an observer. */
public final class ObservedCommandRunner implements CommandRunner {

  private final CommandRunner delegate;
  private final CommandObserver observer;

  public ObservedCommandRunner(CommandRunner delegate, CommandObserver observer) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.observer = Objects.requireNonNull(observer, "observer");
  }

  @Override
  public CommandResult run(Command command) {
    return run(command, LaunchGuard.NONE);
  }

  @Override
  public CommandResult run(Command command, LaunchGuard guard) {
    long start = System.nanoTime();
    try {
      CommandResult result = delegate.run(command, guard);
      observer.commandFinished(
          command.verb(), result.duration(), result.succeeded() ? "ok" : "failed");
      return result;
    } catch (StorageException e) {
      // Timeouts and start failures are UNAVAILABLE, cancellations ABORTED: the kind is the outcome.
      observer.commandFinished(
          command.verb(),
          Duration.ofNanos(System.nanoTime() - start),
          e.kind().name().toLowerCase(java.util.Locale.ROOT));
      throw e;
    }
  }
}
