package io.csi.pvestorage.lock;

import java.time.Duration;

/**
 * Waits. The lock never calls {@link Thread#sleep} directly: production code passes {@link
 * #SYSTEM}, tests pass one that advances a fake {@link java.time.Clock}, so that reaching a
 * deadline or a lease expiry costs no real time.
 */
@FunctionalInterface
public interface Sleeper {

  /** Really sleeps. */
  Sleeper SYSTEM = Thread::sleep;

  /**
   * Waits for about {@code duration}.
   *
   * @throws InterruptedException if the thread is interrupted; the lock then gives up with
   *     ABORTED and restores the interrupt flag
   */
  void sleep(Duration duration) throws InterruptedException;
}
