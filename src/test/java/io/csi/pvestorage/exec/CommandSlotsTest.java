package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class CommandSlotsTest {

  /** A runner that counts how many of its commands run at once, each for {@code hold}. */
  private static final class Overlap implements CommandRunner {
    final AtomicInteger now = new AtomicInteger();
    final AtomicInteger most = new AtomicInteger();
    final Duration hold;

    Overlap(Duration hold) {
      this.hold = hold;
    }

    @Override
    public CommandResult run(Command command) {
      most.accumulateAndGet(now.incrementAndGet(), Math::max);
      try {
        Thread.sleep(hold);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        now.decrementAndGet();
      }
      return new CommandResult(command, 0, "{}".getBytes(StandardCharsets.UTF_8), null, hold);
    }
  }

  private static final Command LVS = Command.of(Duration.ofSeconds(5), "lvs", "pve");

  @Test
  void aBurstRunsAtMostTheLimitPerStorageAndInTotal() throws Exception {
    CommandSlots slots = new CommandSlots(5, 3, Duration.ofSeconds(30));
    Overlap fake = new Overlap(Duration.ofMillis(30));
    CommandRunner lvm = new LimitedCommandRunner(fake, slots, "local-lvm");
    CommandRunner zfs = new LimitedCommandRunner(fake, slots, "local-zfs");
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<CommandResult>> all = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        all.add(pool.submit(() -> lvm.run(LVS)));
        all.add(pool.submit(() -> zfs.run(LVS)));
      }
      for (Future<CommandResult> f : all) {
        assertEquals(0, f.get(30, TimeUnit.SECONDS).exitCode());
      }
    }
    assertEquals(5, fake.most.get(), "two storages of 3 each, but 5 in total");

    Overlap alone = new Overlap(Duration.ofMillis(30));
    CommandRunner one = new LimitedCommandRunner(alone, slots, "local-lvm");
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<CommandResult>> all = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        all.add(pool.submit(() -> one.run(LVS)));
      }
      for (Future<CommandResult> f : all) {
        f.get(30, TimeUnit.SECONDS);
      }
    }
    assertEquals(3, alone.most.get(), "one storage: 3 at once");
  }

  @Test
  void aCommandThatFindsNoSlotInTimeIsExhaustedNamingTheLimit() throws Exception {
    CommandSlots slots = new CommandSlots(8, 1, Duration.ofMillis(200));
    CountDownLatch holding = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CommandRunner blocking = command -> {
      holding.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return new CommandResult(command, 0, null, null, Duration.ZERO);
    };
    CommandRunner limited = new LimitedCommandRunner(blocking, slots, "local-lvm");
    Thread first = Thread.ofVirtual().start(() -> limited.run(LVS));
    assertTrue(holding.await(5, TimeUnit.SECONDS));
    StorageException e = assertThrows(StorageException.class, () -> limited.run(LVS));
    assertEquals(ErrorKind.EXHAUSTED, e.kind());
    assertEquals("too many commands at once: 1 commands already run on storage local-lvm (the "
        + "limit per storage, --max-commands-per-storage), and none ended within 200 ms while lvs "
        + "waited; retry later", e.getMessage());
    CommandRunner node = new LimitedCommandRunner(blocking, slots, RunningCommands.NODE);
    release.countDown();
    first.join(5_000);
    assertEquals(0, node.run(LVS).exitCode(), "the slot came back");
    assertEquals(0, limited.run(LVS).exitCode(), "the slot came back");
  }
}
