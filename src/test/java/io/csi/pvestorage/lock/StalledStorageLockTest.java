package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A storage whose lock holder waits for a stalled command refuses other callers with the
 * stall's reason: those that arrive at once, those already queued as soon as the stall is
 * reported. Real threads, short real time.
 */
@Timeout(30)
class StalledStorageLockTest {

  private static final String STALL = "lvcreate (pid 4242) has been running for 312 s on "
      + "storage thin, longer than the 120 s it should take; it changes storage, so it is never "
      + "killed: find out on the node what it waits for (udev, a suspended device, a full pool)";

  /** Stalls set by the test, reported to the lock like the command runner would. */
  private static final class Stalls implements StorageStalls {
    final AtomicReference<String> reason = new AtomicReference<>();
    final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();

    @Override
    public Optional<String> stalled(String storeid) {
      return storeid.equals("thin") ? Optional.ofNullable(reason.get()) : Optional.empty();
    }

    @Override
    public void onStall(Consumer<String> listener) {
      listeners.add(listener);
    }

    void report(String why) {
      reason.set(why);
      listeners.forEach(l -> l.accept("thin"));
    }
  }

  @TempDir Path dir;
  private final Clock clock = Clock.systemUTC();
  private final Stalls stalls = new Stalls();
  private final RecordingObserver observer = new RecordingObserver();

  private LocalStorageLock lock() {
    return new LocalStorageLock(new PveFlock(dir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, observer, "pid-1_00", stalls);
  }

  /** A thread holding the lock of "thin" for an alloc until {@code release}, once it holds it. */
  private Thread holdUntil(LocalStorageLock lock, CountDownLatch release)
      throws InterruptedException {
    CountDownLatch holding = new CountDownLatch(1);
    Thread holder = Thread.ofPlatform().start(() -> {
      try (LockHandle handle = lock.acquire("thin", Operation.of("alloc", "vm-100-disk-0", clock),
          clock.instant().plusSeconds(5))) {
        holding.countDown();
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    assertTrue(holding.await(5, TimeUnit.SECONDS));
    return holder;
  }

  @Test
  void waitersAreRefusedWithTheStallAndNewCallersAtOnce() throws Exception {
    try (LocalStorageLock lock = lock()) {
      CountDownLatch release = new CountDownLatch(1);
      Thread holder = holdUntil(lock, release); // a command that does not end

      AtomicReference<Boolean> interruptLeft = new AtomicReference<>();
      CompletableFuture<StorageException> waiter = new CompletableFuture<>();
      Thread.ofPlatform().start(() -> {
        try {
          lock.acquire("thin", Operation.of("free", "vm-100-disk-1", clock),
              clock.instant().plusSeconds(20)).close();
          waiter.complete(null);
        } catch (StorageException e) {
          interruptLeft.set(Thread.currentThread().isInterrupted());
          waiter.complete(e);
        }
      });
      Thread.sleep(300);
      assertFalse(waiter.isDone(), "queued behind the holder");

      long reported = System.nanoTime();
      stalls.report(STALL);
      StorageException refused = waiter.get(5, TimeUnit.SECONDS);
      assertTrue(System.nanoTime() - reported < TimeUnit.SECONDS.toNanos(2),
          "refused when the stall was reported, not at its deadline");
      assertEquals(ErrorKind.ABORTED, refused.kind());
      assertEquals("storage 'thin' takes no new operation until a stuck command ends: " + STALL,
          refused.getMessage());
      assertFalse(interruptLeft.get(), "the wake-up does not leak into the caller");

      StorageException next = assertThrows(StorageException.class, () -> lock.acquire("thin",
          Operation.of("snapshot", "vm-100-disk-0", clock), clock.instant().plusSeconds(20)));
      assertEquals(refused.getMessage(), next.getMessage());
      lock.acquire("other", Operation.of("alloc", "", clock), clock.instant().plusSeconds(1))
          .close(); // other storages are not concerned

      stalls.reason.set(null); // the command ended
      release.countDown();
      holder.join(5_000);
      lock.acquire("thin", Operation.of("alloc", "", clock), clock.instant().plusSeconds(5))
          .close();
    }
  }

  @Test
  void aCallerGivingUpAtItsDeadlineIsToldAboutTheStall() throws Exception {
    try (LocalStorageLock lock = lock()) {
      CountDownLatch release = new CountDownLatch(1);
      Thread holder = holdUntil(lock, release); // a command that does not end
      CompletableFuture<StorageException> waiter = CompletableFuture.supplyAsync(() ->
          assertThrows(StorageException.class, () -> lock.acquire("thin",
              Operation.of("free", "", clock), clock.instant().plus(Duration.ofMillis(600)))));
      Thread.sleep(200);
      stalls.reason.set(STALL); // the stall began, but nobody reported it (no wake-up)
      StorageException e = waiter.get(5, TimeUnit.SECONDS);
      assertTrue(e.getMessage().startsWith("storage 'thin' is busy in this process with alloc "
          + "vm-100-disk-0 since"), e.getMessage());
      assertTrue(e.getMessage().endsWith("; " + STALL), e.getMessage());
      release.countDown();
      holder.join(5_000);
    }
  }
}
