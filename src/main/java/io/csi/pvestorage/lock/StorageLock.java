package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.StorageException;
import java.time.Instant;
import java.util.Optional;

/**
 * The lock every mutating storage call (alloc, free, clone, create_base, rename, snapshot
 * create/delete, resize) is made under, like Proxmox VE's {@code cluster_lock_storage}: "pick a
 * free name, check, create" is only safe when nobody else does the same on the same storage at
 * the same time. Reads (list, status, size) are not locked.
 *
 * <h2>Guarantees</h2>
 *
 * <ul>
 *   <li><b>Mutual exclusion per storage</b> between all threads of this process and, for the
 *       Lease implementation, all processes that use the same Lease (same namespace, node and
 *       storeid): the node plugin, a second replica during a rolling update, the {@code client}
 *       CLI. With the PVE flock configured, also against Proxmox VE's own tools on the host.
 *   <li><b>Fairness within the process</b>: callers are served in arrival order.
 *   <li><b>Fencing</b>: while a handle is held the Lease is renewed in the background; when it
 *       cannot be (taken over, or the API unreachable for long enough that it may expire), {@link
 *       LockHandle#ensureValid()} fails, and callers must not start another storage command. A
 *       command that is already running is not interrupted; the next holder waits for it before
 *       its own first command (commands carry {@link LockHandle#holderIdentity()} in their
 *       environment; see {@code FencedCommandRunner}).
 *   <li><b>Liveness</b>: a holder that dies is taken over after the lease duration; a released
 *       lock is taken by the next waiter without waiting for expiry.
 *   <li><b>Stalls</b>: while a command of a storage that changes storage runs far past its
 *       expected time ({@link StorageStalls}), the storage's callers get ABORTED with that
 *       reason at once instead of waiting for their deadline.
 *   <li><b>Re-entrancy</b>: a thread that already holds the lock of a storage gets a nested
 *       handle at once (as PVE's lock is re-entrant per process); closing it does not release.
 * </ul>
 *
 * <h2>Failures</h2>
 *
 * Every failure is a {@link StorageException}: {@link io.csi.pvestorage.error.ErrorKind#ABORTED}
 * when the deadline passed while another holder had the lock (the message names the holder and
 * its operation), or the thread was interrupted; {@link
 * io.csi.pvestorage.error.ErrorKind#UNAVAILABLE} when the API server could not be used until the
 * deadline. The CSI sidecars retry both. When acquisition fails, the caller's action never runs.
 */
public interface StorageLock extends AutoCloseable {

  /**
   * Takes the lock of one storage, waiting at most until {@code deadline}. The attempt is made at
   * least once, even when the deadline has already passed.
   *
   * @param storeid the storage ID as in storage.cfg
   * @param operation what will be done under the lock (shown on the Lease and in errors)
   * @param deadline when to give up waiting
   * @return a handle that must be closed by the calling thread
   * @throws StorageException ABORTED or UNAVAILABLE as described on this interface
   */
  LockHandle acquire(String storeid, Operation operation, Instant deadline);

  /**
   * Runs {@code action} under the lock of {@code storeid}, releasing it afterwards whatever
   * happens. The action's own exceptions pass through unchanged.
   *
   * @throws StorageException when the lock could not be taken; {@code action} has not run
   */
  default <T, E extends Exception> T withLock(
      String storeid, Operation operation, Instant deadline, LockedAction<T, E> action) throws E {
    LockHandle handle = acquire(storeid, operation, deadline);
    try {
      return action.run();
    } finally {
      handle.close();
    }
  }

  /**
   * The handle the calling thread holds for {@code storeid}, if any. A command-runner decorator
   * uses it to call {@link LockHandle#ensureValid()} before each storage command.
   */
  Optional<LockHandle> currentHandle(String storeid);

  /**
   * Stops the lock: new acquisitions fail with UNAVAILABLE, Leases that no operation holds are
   * released, background renewal ends. Handles still open keep their local lock until closed.
   */
  @Override
  void close();

  /** The work done under a lock; {@code E} lets checked exceptions of the action through. */
  @FunctionalInterface
  interface LockedAction<T, E extends Exception> {
    T run() throws E;
  }
}
