package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The part both implementations share: per storage, a fair local lock that queues this
 * process's callers, then the cross-process {@link PoolExclusion}, then the optional PVE flock;
 * released in reverse. The exclusion is kept from one operation to the next while callers queue
 * locally (a burst shares one Lease acquisition), released when the exclusion says the batch
 * has lasted long enough, and told it is idle when the queue drains (a Lease may linger then).
 *
 * <p>A storage with a stalled command ({@link StorageStalls}) takes no new caller: one that
 * arrives is refused at once, and those already queued are woken and refused, all with ABORTED
 * naming the command, since the operation holding the lock waits for it without a bound.
 */
final class QueuedStorageLock implements StorageLock {

  private final Function<String, PoolExclusion> exclusions;
  private final Optional<PveFlock> pveFlock;
  private final Clock clock;
  private final LockObserver observer;
  private final String holderIdentity;
  private final StorageStalls stalls;
  private final ConcurrentHashMap<String, Pool> pools = new ConcurrentHashMap<>();
  private volatile boolean closed;

  QueuedStorageLock(
      Function<String, PoolExclusion> exclusions,
      Optional<PveFlock> pveFlock,
      Clock clock,
      LockObserver observer,
      String holderIdentity,
      StorageStalls stalls) {
    this.exclusions = Objects.requireNonNull(exclusions, "exclusions");
    this.pveFlock = Objects.requireNonNull(pveFlock, "pveFlock");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.observer = Objects.requireNonNull(observer, "observer");
    this.holderIdentity = Objects.requireNonNull(holderIdentity, "holderIdentity");
    this.stalls = Objects.requireNonNull(stalls, "stalls");
    stalls.onStall(this::refuseWaiters);
  }

  @Override
  public LockHandle acquire(String storeid, Operation operation, Instant deadline) {
    Objects.requireNonNull(storeid, "storeid");
    Objects.requireNonNull(operation, "operation");
    Objects.requireNonNull(deadline, "deadline");
    if (closed) {
      throw new StorageException(
          ErrorKind.UNAVAILABLE, "the storage lock is shut down; cannot lock '" + storeid + "'");
    }
    Pool pool = pools.computeIfAbsent(storeid, id -> new Pool(id, exclusions.apply(id)));
    if (pool.local.isHeldByCurrentThread()) {
      pool.local.lock();
      return new Nested(pool.current);
    }
    Optional<String> stall = stalls.stalled(storeid);
    if (stall.isPresent()) {
      observer.failed(storeid, ErrorKind.ABORTED);
      throw new StorageException(ErrorKind.ABORTED, refusal(storeid, stall.get()));
    }
    Instant asked = clock.instant();
    Instant holdDeadline = lockLocally(pool, deadline);
    try {
      PoolExclusion.Fence fence = pool.exclusion.hold(operation, holdDeadline);
      PveFlock.Held flock = pveFlock.map(f -> f.acquire(storeid, holdDeadline)).orElse(null);
      Instant granted = clock.instant();
      Grant grant = new Grant(pool, operation, fence, flock, granted);
      pool.current = grant;
      observer.waited(storeid, Duration.between(asked, granted));
      return grant;
    } catch (RuntimeException e) {
      if (e instanceof StorageException se) {
        observer.failed(storeid, se.kind());
      }
      leave(pool, null);
      throw e;
    }
  }

  /**
   * Waits in the storage's local queue. The lock-wait ({@code deadline} from now) bounds a wait
   * in which the lock does not change hands, not the whole wait: while the callers ahead finish
   * one after another the queue moves, and a caller behind them waits on, so that a burst of
   * calls queued at once (100 CreateVolumes for 100 pods scheduled to one node) all get their
   * turn however long the queue is (issue 16, target 4). A holder that keeps the lock for a whole
   * lock-wait still sends every waiter away with ABORTED, as does a stalled command at once, and
   * the call's own deadline or cancellation interrupts the wait whenever it comes.
   *
   * @return the deadline for what follows the local lock (the Lease, PVE's flock): {@code
   *     deadline}, or one lock-wait from now when the queue moved past {@code deadline}
   */
  private Instant lockLocally(Pool pool, Instant deadline) {
    Duration lockWait = Duration.between(clock.instant(), deadline);
    if (lockWait.isNegative()) {
      lockWait = Duration.ZERO;
    }
    Instant giveUp = deadline;
    long handovers = pool.handovers.get();
    Waiter me = new Waiter(Thread.currentThread());
    pool.waiters.add(me);
    boolean locked;
    String refused;
    try {
      while (true) {
        long remaining = Math.max(0, Duration.between(clock.instant(), giveUp).toNanos());
        locked = pool.local.tryLock(remaining, TimeUnit.NANOSECONDS);
        long now = pool.handovers.get();
        if (locked || now == handovers || stalls.stalled(pool.storeid).isPresent()) {
          break;
        }
        // The queue moved while this caller waited: a fresh lock-wait from here. The timed
        // wait ended, so the caller queues again behind those who came meanwhile; in a burst
        // that is nobody, and anyone behind it got a lock-wait of their own.
        handovers = now;
        giveUp = clock.instant().plus(lockWait);
      }
      refused = me.finish();
      if (refused != null) {
        // The stall's wake-up came after the wait ended: it must not reach the next command.
        Thread.interrupted();
      }
    } catch (InterruptedException e) {
      refused = me.finish();
      pool.waiters.remove(me);
      releaseIfIdle(pool);
      observer.failed(pool.storeid, ErrorKind.ABORTED);
      if (refused != null) {
        throw new StorageException(ErrorKind.ABORTED, refusal(pool.storeid, refused));
      }
      Thread.currentThread().interrupt();
      throw new StorageException(
          ErrorKind.ABORTED, "interrupted while waiting for the lock of storage '" + pool.storeid + "'", e);
    }
    pool.waiters.remove(me);
    if (!locked) {
      // Leaving the queue may have left a kept Lease with nobody to use it.
      releaseIfIdle(pool);
      observer.failed(pool.storeid, ErrorKind.ABORTED);
      Grant holder = pool.current;
      throw new StorageException(
          ErrorKind.ABORTED,
          "storage '"
              + pool.storeid
              + "' is busy in this process"
              + (holder == null ? "" : " with " + holder.operation.describe())
              + " ("
              + pool.local.getQueueLength()
              + " more waiting); it did not change hands for the lock-wait of "
              + lockWait.toMillis() + " ms, until "
              + giveUp
              + stalls.stalled(pool.storeid).map(r -> "; " + r).orElse(""));
    }
    // After a wait the queue moved through, what follows gets a lock-wait of its own: the
    // last extension may end a moment from now, while the Lease this process just released
    // for other nodes' turn (LeasePool's pause) is not to be taken again before its pause ends.
    return giveUp.equals(deadline) ? deadline : clock.instant().plus(lockWait);
  }

  /** Wakes the callers queued for {@code storeid} and refuses them: a command there stalled. */
  private void refuseWaiters(String storeid) {
    Pool pool = pools.get(storeid);
    Optional<String> reason = stalls.stalled(storeid);
    if (pool == null || reason.isEmpty()) {
      return;
    }
    for (Waiter waiter : pool.waiters) {
      waiter.refuse(reason.get());
    }
  }

  private static String refusal(String storeid, String stall) {
    return "storage '" + storeid + "' takes no new operation until a stuck command ends: " + stall;
  }

  /**
   * A caller queued for a storage's local lock. A refusal interrupts its thread; the state,
   * guarded by the waiter's monitor, tells that interrupt from a cancelled call and keeps it
   * from reaching a caller that has stopped waiting.
   */
  private static final class Waiter {
    private final Thread thread;
    private boolean waiting = true;
    private String refusal;

    Waiter(Thread thread) {
      this.thread = thread;
    }

    synchronized void refuse(String reason) {
      if (waiting && refusal == null) {
        refusal = reason;
        thread.interrupt();
      }
    }

    /** Ends the wait; returns the refusal if one interrupted (or is about to) the thread. */
    synchronized String finish() {
      waiting = false;
      return refusal;
    }
  }

  /** Releases the flock, decides about the exclusion, then leaves the local queue. */
  private void leave(Pool pool, Grant grant) {
    try {
      if (grant != null && grant.flock != null) {
        grant.flock.close();
      }
    } finally {
      pool.current = null;
      try {
        boolean queued = pool.local.hasQueuedThreads() && !closed;
        if (!queued) {
          pool.exclusion.idle();
        } else if (!pool.exclusion.mayKeep()) {
          pool.exclusion.release(true);
        }
      } finally {
        pool.handovers.incrementAndGet();
        pool.local.unlock();
      }
    }
  }

  /** Ends a hold nobody uses: now at shutdown, else as after any burst (it may linger). */
  private void releaseIfIdle(Pool pool) {
    if (pool.local.tryLock()) {
      try {
        if (pool.current == null && !pool.local.hasQueuedThreads()) {
          if (closed) {
            pool.exclusion.release(false);
          } else {
            pool.exclusion.idle();
          }
        }
      } finally {
        pool.local.unlock();
      }
    }
  }

  @Override
  public Optional<LockHandle> currentHandle(String storeid) {
    Pool pool = pools.get(storeid);
    if (pool == null || !pool.local.isHeldByCurrentThread()) {
      return Optional.empty();
    }
    return Optional.ofNullable(pool.current);
  }

  @Override
  public void close() {
    closed = true;
    pools.values().forEach(this::releaseIfIdle);
  }

  /** Everything kept per storage. */
  private static final class Pool {
    final String storeid;
    final ReentrantLock local = new ReentrantLock(true);
    final java.util.Set<Waiter> waiters = ConcurrentHashMap.newKeySet();
    final PoolExclusion exclusion;
    /** How often an operation has left the lock: a waiter sees the queue move by it. */
    final java.util.concurrent.atomic.AtomicLong handovers =
        new java.util.concurrent.atomic.AtomicLong();
    /** The outermost handle of the thread holding {@link #local}; written only by it. */
    volatile Grant current;

    Pool(String storeid, PoolExclusion exclusion) {
      this.storeid = storeid;
      this.exclusion = exclusion;
    }
  }

  private final class Grant implements LockHandle {
    private final Pool pool;
    private final Operation operation;
    private final PoolExclusion.Fence fence;
    private final PveFlock.Held flock;
    private final Instant granted;
    private final Thread owner = Thread.currentThread();
    private final AtomicBoolean closed = new AtomicBoolean();

    Grant(Pool pool, Operation operation, PoolExclusion.Fence fence, PveFlock.Held flock, Instant granted) {
      this.pool = pool;
      this.operation = operation;
      this.fence = fence;
      this.flock = flock;
      this.granted = granted;
    }

    @Override
    public String storeid() {
      return pool.storeid;
    }

    @Override
    public Operation operation() {
      return operation;
    }

    @Override
    public String holderIdentity() {
      return holderIdentity;
    }

    @Override
    public void ensureValid() {
      if (closed.get()) {
        throw new StorageException(
            ErrorKind.ABORTED,
            "the lock of storage '" + pool.storeid + "' for " + operation.describe() + " was released");
      }
      fence.ensureValid();
    }

    @Override
    public void close() {
      if (Thread.currentThread() != owner) {
        throw new IllegalStateException(
            "the lock of storage '" + pool.storeid + "' must be released by the thread that took it");
      }
      if (closed.compareAndSet(false, true)) {
        observer.held(pool.storeid, Duration.between(granted, clock.instant()));
        leave(pool, this);
      }
    }
  }

  /** A re-entrant acquisition: shares the outer grant, and only undoes its own lock count. */
  private static final class Nested implements LockHandle {
    private final Grant outer;
    private final AtomicBoolean closed = new AtomicBoolean();

    Nested(Grant outer) {
      this.outer = outer;
    }

    @Override
    public String storeid() {
      return outer.storeid();
    }

    @Override
    public Operation operation() {
      return outer.operation();
    }

    @Override
    public String holderIdentity() {
      return outer.holderIdentity();
    }

    @Override
    public void ensureValid() {
      outer.ensureValid();
    }

    @Override
    public void close() {
      if (closed.compareAndSet(false, true)) {
        outer.pool.local.unlock();
      }
    }
  }
}
