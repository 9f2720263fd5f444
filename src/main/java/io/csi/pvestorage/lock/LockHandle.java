package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.StorageException;

/**
 * Proof that the calling thread holds the lock of one storage. Obtained from {@link
 * StorageLock#acquire}; must be closed by the thread that acquired it, best with
 * try-with-resources or through {@link StorageLock#withLock}.
 */
public interface LockHandle extends AutoCloseable {

  /** The storage this handle locks. */
  String storeid();

  /** The operation the lock was taken for. */
  Operation operation();

  /**
   * Who holds the lock: the identity this process writes into the Lease (a per-process identity
   * for the local lock). Commands run under the handle carry it in their environment, so that a
   * later holder can find those that are still running and wait for them.
   */
  String holderIdentity();

  /**
   * Checks that the lock is still exclusive; call it before starting each storage command
   * (fencing). It is cheap (no API call): it looks at the outcome of the background renewals.
   *
   * @throws StorageException {@link io.csi.pvestorage.error.ErrorKind#ABORTED} when the Lease
   *     was taken over by another holder or deleted, or the handle was closed; {@link
   *     io.csi.pvestorage.error.ErrorKind#UNAVAILABLE} when renewals have failed for so long that
   *     the Lease may expire before a command could finish (the message says since when and
   *     why). Either way, no further command may run under this handle.
   */
  void ensureValid();

  /**
   * Releases the lock: the PVE flock at once, the Lease when no other operation of this process
   * is queued for the storage (otherwise the next queued operation inherits it), then the local
   * queue. Idempotent. Never throws: a failure to clear the Lease is logged and the Lease
   * expires after its duration.
   */
  @Override
  void close();
}
