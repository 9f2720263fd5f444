package io.csi.pvestorage.exec;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Bounds how many commands run at once, per scope (a storage, or the node) and in total, so that
 * a burst of calls (100 parallel ListVolumes) queues for a few lvm processes instead of starting
 * one each. A command waits for a slot in arrival order for at most {@code maxWait}, then fails
 * with EXHAUSTED (RESOURCE_EXHAUSTED) naming the limit. A thread holds at most one slot (its
 * commands run one after the other), so waiting for one cannot deadlock.
 */
public final class CommandSlots {

  private final int total;
  private final int perScope;
  private final Duration maxWait;
  private final Semaphore all;
  private final Map<String, Semaphore> scopes = new ConcurrentHashMap<>();

  /**
   * @param total the most commands running at once in this process
   * @param perScope the most commands running at once for one storage (or the node)
   * @param maxWait the longest a command waits for a slot
   */
  public CommandSlots(int total, int perScope, Duration maxWait) {
    if (total < 1 || perScope < 1) {
      throw new IllegalArgumentException("command limits must be at least 1");
    }
    this.total = total;
    this.perScope = perScope;
    this.maxWait = Objects.requireNonNull(maxWait, "maxWait");
    this.all = new Semaphore(total, true);
  }

  /** A held slot; closing it lets the next command in. */
  @FunctionalInterface
  public interface Slot extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Waits for a slot of {@code scope} and one of the total.
   *
   * @throws StorageException EXHAUSTED when none came free within the wait, naming the limit;
   *     ABORTED when the thread was interrupted while waiting
   */
  public Slot acquire(String scope, String verb) {
    Semaphore mine = scopes.computeIfAbsent(scope, s -> new Semaphore(perScope, true));
    long deadline = System.nanoTime() + maxWait.toNanos();
    try {
      if (!mine.tryAcquire(maxWait.toNanos(), TimeUnit.NANOSECONDS)) {
        throw exhausted(verb, perScope + " commands already run " + RunningCommands.where(scope)
            + " (the limit per storage, --max-commands-per-storage)");
      }
      try {
        if (!all.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          throw exhausted(verb, total + " storage and node commands already run in this driver"
              + " (the limit in total, --max-commands)");
        }
      } catch (InterruptedException | RuntimeException e) {
        mine.release();
        throw e;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StorageException(ErrorKind.ABORTED, "the call was cancelled while " + verb
          + " waited for a command slot " + RunningCommands.where(scope));
    }
    return () -> {
      all.release();
      mine.release();
    };
  }

  private StorageException exhausted(String verb, String limit) {
    return new StorageException(ErrorKind.EXHAUSTED, "too many commands at once: " + limit
        + ", and none ended within " + RunningCommands.human(maxWait) + " while " + verb
        + " waited; retry later");
  }
}
