package io.csi.pvestorage.app;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.StorageLock;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * A storage lock that is still being built: the Lease lock needs a Kubernetes client and an RBAC
 * check, which must not hold back the CSI socket (Probe answers not-ready meanwhile). Calls made
 * before it is ready wait for it until their deadline, then answer UNAVAILABLE, which the
 * sidecars retry; if building failed they get that failure.
 */
final class PendingStorageLock implements StorageLock {

  private final CompletableFuture<StorageLock> lock;
  private final Clock clock;

  /** Starts building the lock with {@code factory} on a thread of its own. */
  PendingStorageLock(Supplier<StorageLock> factory, Clock clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    this.lock = new CompletableFuture<>();
    Thread.ofPlatform().name("storage-lock-start").daemon().start(() -> {
      try {
        StorageLock built = factory.get();
        if (!lock.complete(built)) {
          built.close(); // closed while it was being built
        }
      } catch (RuntimeException e) {
        lock.completeExceptionally(e);
      }
    });
  }

  /** Completes when the lock is ready, exceptionally when it could not be built. */
  CompletableFuture<StorageLock> ready() {
    return lock;
  }

  @Override
  public LockHandle acquire(String storeid, Operation operation, Instant deadline) {
    StorageLock ready;
    try {
      long waitMillis = Math.max(0, Duration.between(clock.instant(), deadline).toMillis());
      ready = lock.get(waitMillis, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new StorageException(ErrorKind.UNAVAILABLE, "the storage lock is still starting "
          + "(connecting to the Kubernetes API); retry");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StorageException(ErrorKind.ABORTED, "interrupted while the storage lock starts");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof StorageException s) {
        throw new StorageException(s.kind(), "the storage lock could not start: "
            + s.getMessage(), s);
      }
      throw new StorageException(ErrorKind.UNAVAILABLE, "the storage lock could not start: "
          + e.getCause(), e.getCause());
    }
    return ready.acquire(storeid, operation, deadline);
  }

  @Override
  public Optional<LockHandle> currentHandle(String storeid) {
    return built().flatMap(ready -> ready.currentHandle(storeid));
  }

  @Override
  public void close() {
    if (!lock.cancel(false)) {
      built().ifPresent(StorageLock::close);
    }
  }

  private Optional<StorageLock> built() {
    return lock.isDone() && !lock.isCompletedExceptionally()
        ? Optional.of(lock.join()) : Optional.empty();
  }
}
