package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual exclusion with util-linux {@code flock(1)}, which uses flock(2) as PVE's Perl code
 * does. Real processes and real (short) time.
 */
@Timeout(30)
class PveFlockTest {

  @TempDir Path dir;

  private final Clock clock = Clock.systemUTC();
  private Process holder;

  private PveFlock flock() {
    return new PveFlock(dir.resolve("pve-manager"), clock, new SplittableRandom(1), Sleeper.SYSTEM);
  }

  @AfterEach
  void stopHolder() throws InterruptedException {
    if (holder != null && holder.isAlive()) {
      holder.destroy();
      holder.waitFor(5, TimeUnit.SECONDS);
    }
  }

  /** Starts {@code flock -x <file> cat} and returns once it holds the lock; ends when stdin closes. */
  private Process holdWithUtilLinux(Path file) throws IOException, InterruptedException {
    Files.createDirectories(file.getParent());
    holder =
        new ProcessBuilder(List.of("flock", "-x", file.toString(), "cat"))
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    // flock(1) reports nothing unbuffered; a non-blocking probe failing means it holds the file.
    long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (utilLinuxTryLock(file) == 0) {
      if (System.nanoTime() > giveUp || !holder.isAlive()) {
        throw new IOException("flock(1) did not take the lock");
      }
      Thread.sleep(10);
    }
    return holder;
  }

  private static int utilLinuxTryLock(Path file) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(List.of("flock", "-x", "-n", file.toString(), "true")).start();
    assertTrue(p.waitFor(10, TimeUnit.SECONDS));
    return p.exitValue();
  }

  @Test
  void usesPvesFileNameAndCreatesTheDirectory() {
    PveFlock flock = flock();
    Path expected = dir.resolve("pve-manager").resolve("pve-storage-local-thin");
    assertEquals(expected, flock.pathFor("local-thin"));
    try (PveFlock.Held held = flock.acquire("local-thin", clock.instant().plusSeconds(1))) {
      assertEquals(expected, held.path());
      assertTrue(Files.exists(expected));
    }
  }

  @Test
  void aUtilLinuxFlockHolderExcludesUsUntilItEnds() throws Exception {
    PveFlock flock = flock();
    Path file = flock.pathFor("thin");
    Process external = holdWithUtilLinux(file);

    StorageException e =
        assertThrows(
            StorageException.class,
            () -> flock.acquire("thin", clock.instant().plusMillis(300)));
    assertEquals(ErrorKind.ABORTED, e.kind());
    assertTrue(e.getMessage().contains("can't lock file '" + file + "'"), e.getMessage());

    // A waiter gets it as soon as the external holder ends.
    CompletableFuture<PveFlock.Held> waiter =
        CompletableFuture.supplyAsync(() -> flock.acquire("thin", clock.instant().plusSeconds(10)));
    Thread.sleep(100);
    assertTrue(!waiter.isDone(), "must wait while util-linux flock holds the file");
    external.getOutputStream().close(); // cat ends, flock(1) exits, the kernel drops its lock
    try (PveFlock.Held held = waiter.get(10, TimeUnit.SECONDS)) {
      assertNotNull(held);
    }
  }

  @Test
  void ourFlockExcludesUtilLinuxFlock() throws Exception {
    PveFlock flock = flock();
    Path file = flock.pathFor("thin");
    PveFlock.Held held = flock.acquire("thin", clock.instant().plusSeconds(1));
    assertEquals(1, utilLinuxTryLock(file), "flock -n must fail while we hold the file");
    held.close();
    assertEquals(0, utilLinuxTryLock(file), "flock -n must succeed once we released it");
  }

  @Test
  void twoDescriptorsInOneProcessExcludeEachOther() {
    // flock(2) locks belong to the open file description, so a second driver instance in the
    // same JVM (as in the tests) is excluded like another process.
    PveFlock one = flock();
    PveFlock two = flock();
    PveFlock.Held held = one.acquire("thin", clock.instant().plusSeconds(1));
    assertThrows(StorageException.class, () -> two.acquire("thin", clock.instant().plusMillis(100)));
    held.close();
    two.acquire("thin", clock.instant().plusSeconds(1)).close();
  }

  @Test
  void theTrapFileChannelLockDoesNotExcludeAFlockHolder() throws Exception {
    // Why PveFlock uses flock(2) through JNA: Java's FileChannel lock is an fcntl record lock,
    // which the kernel keeps apart from flock locks, so it happily "locks" a flocked file.
    Path file = flock().pathFor("thin");
    holdWithUtilLinux(file);
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE);
        FileLock lock = channel.tryLock()) {
      assertNotNull(lock, "fcntl lock granted although flock(1) holds the file");
    }
  }

  @Test
  void rejectsAStoreidThatIsNotAFileName() {
    assertThrows(StorageException.class, () -> flock().pathFor("../etc"));
    assertThrows(StorageException.class, () -> flock().acquire("a/b", Instant.now()));
  }

  @Test
  void givingUpHonoursTheDeadlineByTheInjectedClock() throws Exception {
    FakeClock fake = new FakeClock(Instant.parse("2026-11-24T18:00:00Z"));
    PveFlock flock = new PveFlock(dir.resolve("pve-manager"), fake, new SplittableRandom(1), fake.sleeper());
    holdWithUtilLinux(flock.pathFor("thin"));
    Instant deadline = fake.instant().plus(Duration.ofSeconds(10));

    assertThrows(StorageException.class, () -> flock.acquire("thin", deadline));

    assertTrue(!fake.instant().isBefore(deadline));
  }
}
