package io.csi.pvestorage.lock;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A scheduler whose tasks run only when a test calls {@link #runDue()}, on the test's thread,
 * when the {@link FakeClock} has reached them. Only one-shot {@code schedule(Runnable, ...)} is
 * supported: it is all the lock uses.
 */
public final class ManualScheduler extends AbstractExecutorService implements ScheduledExecutorService {

  private final FakeClock clock;
  private final List<Task> tasks = new ArrayList<>();

  public ManualScheduler(FakeClock clock) {
    this.clock = clock;
  }

  /** Runs every task that is due, including those that due tasks schedule; returns how many. */
  public int runDue() {
    int ran = 0;
    while (true) {
      Task next;
      synchronized (tasks) {
        next =
            tasks.stream()
                .filter(t -> !t.isCancelled() && !t.due.isAfter(clock.instant()))
                .min(Comparator.comparing(t -> t.due))
                .orElse(null);
        if (next == null) {
          tasks.removeIf(t -> t.isCancelled() || t.done);
          return ran;
        }
        next.done = true;
        tasks.remove(next);
      }
      next.runnable.run();
      ran++;
    }
  }

  /** Tasks waiting and not cancelled. */
  public int pending() {
    synchronized (tasks) {
      return (int) tasks.stream().filter(t -> !t.isCancelled() && !t.done).count();
    }
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    Task task = new Task(clock.instant().plus(Duration.of(delay, unit.toChronoUnit())), command);
    synchronized (tasks) {
      tasks.add(task);
    }
    return task;
  }

  @Override
  public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleAtFixedRate(
      Runnable command, long initialDelay, long period, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(
      Runnable command, long initialDelay, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void execute(Runnable command) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void shutdown() {}

  @Override
  public List<Runnable> shutdownNow() {
    return List.of();
  }

  @Override
  public boolean isShutdown() {
    return false;
  }

  @Override
  public boolean isTerminated() {
    return false;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return true;
  }

  private final class Task implements ScheduledFuture<Object> {
    final Instant due;
    final Runnable runnable;
    volatile boolean cancelled;
    volatile boolean done;

    Task(Instant due, Runnable runnable) {
      this.due = due;
      this.runnable = runnable;
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(Duration.between(clock.instant(), due));
    }

    @Override
    public int compareTo(Delayed other) {
      return Long.compare(getDelay(TimeUnit.NANOSECONDS), other.getDelay(TimeUnit.NANOSECONDS));
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      cancelled = !done;
      return cancelled;
    }

    @Override
    public boolean isCancelled() {
      return cancelled;
    }

    @Override
    public boolean isDone() {
      return done || cancelled;
    }

    @Override
    public Object get() {
      return null;
    }

    @Override
    public Object get(long timeout, TimeUnit unit) {
      return null;
    }
  }
}
