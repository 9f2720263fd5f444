package io.csi.pvestorage.lock;

import java.time.Clock;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * The storage lock without Kubernetes, for tests, the demo and nodes where the API is not
 * wanted: a fair lock per storage within the process, then PVE's flock file, which excludes
 * other processes on the same host (a second driver process, the {@code client} CLI, Proxmox
 * VE's own tools). Same contract as {@link StorageLock}; handles never become invalid while
 * open, since nothing is renewed. Holders and their operations are visible only in this
 * process's errors (the flock file names nobody).
 */
public final class LocalStorageLock implements StorageLock {

  private final QueuedStorageLock engine;

  /**
   * A lock with an identity made of this process's ID and a random suffix, and no stall check.
   *
   * @param flock the lock files; on a non-PVE host any directory all processes agree on
   * @param clock the time used for deadlines and metrics
   * @param observer told about waits, holds and failures (there are no Lease events)
   */
  public LocalStorageLock(PveFlock flock, Clock clock, LockObserver observer) {
    this(flock, clock, observer, LeaseLockSettings.holderIdentity(
        "pid-" + ProcessHandle.current().pid(), new java.security.SecureRandom()),
        StorageStalls.NONE);
  }

  /**
   * @param flock the lock files; on a non-PVE host any directory all processes agree on
   * @param clock the time used for deadlines and metrics
   * @param observer told about waits, holds and failures (there are no Lease events)
   * @param holderIdentity who this process is, unique per process ({@link
   *     LockHandle#holderIdentity()}): an orphaned command of a dead process keeps the flock's
   *     next holder waiting until it ends
   * @param stalls which storages refuse new operations because a command of theirs stalled
   */
  public LocalStorageLock(PveFlock flock, Clock clock, LockObserver observer,
      String holderIdentity, StorageStalls stalls) {
    Objects.requireNonNull(flock, "flock");
    this.engine = new QueuedStorageLock(id -> PoolExclusion.NONE, Optional.of(flock), clock,
        observer, holderIdentity, stalls);
  }

  @Override
  public LockHandle acquire(String storeid, Operation operation, Instant deadline) {
    return engine.acquire(storeid, operation, deadline);
  }

  @Override
  public Optional<LockHandle> currentHandle(String storeid) {
    return engine.currentHandle(storeid);
  }

  @Override
  public void close() {
    engine.close();
  }
}
