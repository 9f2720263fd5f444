package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.ErrorKind;
import java.time.Duration;

/**
 * Told what the lock does, for metrics. Every method has an empty default, so an implementation
 * overrides what it exports. Methods are called on the thread that did the work (an operation's
 * thread, or the renewal thread); they must be cheap and must not throw.
 *
 * <p>The {@code storeid} is the only label given: it is bounded by the storage configuration.
 * Holder identities and volume names are deliberately not passed.
 */
public interface LockObserver {

  /** Ignores everything. */
  LockObserver NONE = new LockObserver() {};

  /**
   * An operation got the lock: how long it waited, from the call to {@code acquire} until it
   * held the local queue, the Lease and (if configured) the PVE flock.
   */
  default void waited(String storeid, Duration wait) {}

  /** An operation released the lock after holding it for {@code hold}. */
  default void held(String storeid, Duration hold) {}

  /**
   * This process wrote itself into the Lease (one API acquisition, which a burst of queued
   * operations shares).
   *
   * @param takeover the Lease had expired under another holder, which therefore died or lost
   *     its connection to the API server
   */
  default void leaseAcquired(String storeid, boolean takeover) {}

  /**
   * Something failed: an acquisition gave up ({@link ErrorKind#ABORTED} past its deadline or
   * when interrupted, {@link ErrorKind#UNAVAILABLE} when the API server could not be used), or a
   * held Lease was lost (taken over: ABORTED; not renewable in time: UNAVAILABLE).
   */
  default void failed(String storeid, ErrorKind kind) {}
}
