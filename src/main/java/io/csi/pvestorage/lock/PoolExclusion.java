package io.csi.pvestorage.lock;

import java.time.Instant;

/**
 * Exclusion of other processes from one storage, kept across a burst of operations of this
 * process. Only the thread holding the storage's local lock calls these methods, so an
 * implementation sees them one at a time (its own background work aside).
 */
interface PoolExclusion {

  /**
   * Makes sure this process holds the storage, waiting until {@code deadline}; cheap when it
   * already does from an earlier operation of the same burst.
   *
   * @return the fencing check for the operation that is about to run
   */
  Fence hold(Operation operation, Instant deadline);

  /** Whether the current hold may pass to the next queued operation without a release. */
  boolean mayKeep();

  /**
   * The burst is over: nothing of this process queues for the storage. Releases the hold now,
   * or keeps it a moment for an operation that may follow and releases it later by itself.
   * Never throws.
   */
  void idle();

  /**
   * Releases the hold, if any, now. Never throws.
   *
   * @param yieldToOthers released because the batch bound was reached while operations of this
   *     process still queue: pause before taking it again so that waiting processes get a turn
   */
  void release(boolean yieldToOthers);

  /** The fencing check of one hold. */
  @FunctionalInterface
  interface Fence {
    /** See {@link LockHandle#ensureValid()}. */
    void ensureValid();
  }

  /** For the local-only lock: this process is alone by definition. */
  PoolExclusion NONE =
      new PoolExclusion() {
        @Override
        public Fence hold(Operation operation, Instant deadline) {
          return () -> {};
        }

        @Override
        public boolean mayKeep() {
          return true;
        }

        @Override
        public void idle() {}

        @Override
        public void release(boolean yieldToOthers) {}
      };
}
