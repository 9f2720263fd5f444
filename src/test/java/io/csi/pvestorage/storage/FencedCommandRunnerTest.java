package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.exec.LaunchGuard;
import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.exec.SlowTools;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.lock.StorageLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fencing and the takeover wait, with real processes standing for the commands of an earlier
 * lock holder (a {@code sleep} named like the storage tool, carrying that holder's marker).
 */
@Timeout(60)
class FencedCommandRunnerTest {

  /** A lock of one holder whose only handle can be made invalid, as a failed renewal would. */
  private static final class FakeLock implements StorageLock {
    final AtomicBoolean valid = new AtomicBoolean(true);
    final AtomicBoolean held = new AtomicBoolean(false);
    final LockHandle handle;

    FakeLock(String holder) {
      handle = new LockHandle() {
        @Override
        public String storeid() {
          return "local-lvm";
        }

        @Override
        public Operation operation() {
          return new Operation("alloc", "vm-0-x", Instant.EPOCH);
        }

        @Override
        public String holderIdentity() {
          return holder;
        }

        @Override
        public void ensureValid() {
          if (!valid.get()) {
            throw new StorageException(ErrorKind.UNAVAILABLE, "lease may have expired");
          }
        }

        @Override
        public void close() {
          held.set(false);
        }
      };
    }

    FakeLock held() {
      held.set(true);
      return this;
    }

    @Override
    public LockHandle acquire(String storeid, Operation operation, Instant deadline) {
      held.set(true);
      return handle;
    }

    @Override
    public Optional<LockHandle> currentHandle(String storeid) {
      return held.get() && storeid.equals("local-lvm") ? Optional.of(handle) : Optional.empty();
    }

    @Override
    public void close() {}
  }

  private static final Command LVCREATE = Command.of(Duration.ofSeconds(5), "lvcreate", "x");
  private static final Map<String, String> MARKS_OF_A = Map.of(
      FencedCommandRunner.HOLDER_VARIABLE, "pod-a_1",
      FencedCommandRunner.STORAGE_VARIABLE, "local-lvm");

  @TempDir Path dir;
  private Process earlier;

  @AfterEach
  void stopEarlier() throws Exception {
    if (earlier != null) {
      earlier.destroyForcibly().waitFor();
    }
  }

  private FencedCommandRunner.Takeover takeover(Duration maxWait) throws Exception {
    Path gates = Files.createDirectories(dir.resolve("gates"));
    return new FencedCommandRunner.Takeover(PveFlock.launchGate(gates, Clock.systemUTC(),
        new SplittableRandom(1), Sleeper.SYSTEM), ProcessTable.system(), maxWait,
        Clock.systemUTC());
  }

  /** Starts a command of another holder: {@code tool} for {@code seconds}, with its marks. */
  private Process commandOf(String holder, String tool, String seconds) throws Exception {
    ProcessBuilder builder = new ProcessBuilder(SlowTools.link(dir, tool).toString(), seconds);
    builder.environment().put(FencedCommandRunner.HOLDER_VARIABLE, holder);
    builder.environment().put(FencedCommandRunner.STORAGE_VARIABLE, "local-lvm");
    return builder.start();
  }

  /** Whether a process has ended (gone, or a zombie nobody reaped yet), read from /proc. */
  static boolean ended(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
    } catch (java.io.IOException e) {
      return true;
    }
  }

  @Test
  void aCommandUnderAValidLockRunsWithItsHoldersMarks() {
    FakeLock lock = new FakeLock("pod-a_1").held();
    FakeCommandRunner fake = new FakeCommandRunner().expect("lvcreate", "x").thenSucceed();
    new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE);
    fake.verifyAllConsumed();
    assertEquals(MARKS_OF_A, fake.commands().getFirst().environment());
  }

  @Test
  void aCommandUnderALockThatMayHaveExpiredNeverStarts() {
    FakeLock lock = new FakeLock("pod-a_1").held();
    FakeCommandRunner fake = new FakeCommandRunner();
    lock.valid.set(false);
    StorageException e = assertThrows(StorageException.class,
        () -> new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertEquals(0, fake.commands().size(), "nothing ran");
  }

  @Test
  void readsWithoutALockAreNeitherCheckedNorMarked() {
    FakeLock lock = new FakeLock("pod-a_1");
    lock.valid.set(false);
    FakeCommandRunner fake = new FakeCommandRunner().expect("lvcreate", "x").thenSucceed();
    new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE);
    fake.verifyAllConsumed();
    assertEquals(Map.of(), fake.commands().getFirst().environment());
  }

  @Test
  void theFirstCommandOfAHandleWaitsUntilCommandsOfEarlierHoldersEnd() throws Exception {
    earlier = commandOf("pod-old_9", "lvcreate", "2");
    Process mine = commandOf("pod-a_1", "lvchange", "5"); // this holder's own: not waited for
    try {
      AtomicBoolean earlierEndedFirst = new AtomicBoolean();
      CommandRunner check = command -> {
        earlierEndedFirst.set(ended(earlier.pid()));
        return new CommandResult(command, 0, null, null, Duration.ZERO);
      };
      FencedCommandRunner runner = new FencedCommandRunner(check,
          new FakeLock("pod-a_1").held(), "local-lvm", takeover(Duration.ofSeconds(20)));
      assertFalse(ended(earlier.pid()), "the earlier holder's lvcreate still runs");
      runner.run(LVCREATE);
      assertTrue(earlierEndedFirst.get(), "started only after the earlier holder's lvcreate ended");
      assertFalse(ended(mine.pid()), "its own command was not waited for");
    } finally {
      mine.destroyForcibly().waitFor();
    }
  }

  @Test
  void onlyTheFirstCommandOfAHandleSearches() throws Exception {
    FakeLock lock = new FakeLock("pod-a_1").held();
    FakeCommandRunner fake = new FakeCommandRunner()
        .expect("lvcreate", "x").thenSucceed()
        .expect("lvcreate", "x").thenSucceed();
    FencedCommandRunner runner = new FencedCommandRunner(fake, lock, "local-lvm",
        takeover(Duration.ofMillis(300)));
    runner.run(LVCREATE);
    // From here on no earlier holder can start a command (its check fails once this handle
    // exists), so one that appears now is not looked for: nothing waits.
    earlier = commandOf("pod-old_9", "lvcreate", "5");
    runner.run(LVCREATE);
    fake.verifyAllConsumed();
  }

  @Test
  void commandsOfAnEarlierHolderThatOutlastTheWaitAbortTheCall() throws Exception {
    earlier = commandOf("pod-old_9", "lvremove", "5");
    FakeCommandRunner fake = new FakeCommandRunner();
    StorageException e = assertThrows(StorageException.class, () -> new FencedCommandRunner(fake,
        new FakeLock("pod-a_1").held(), "local-lvm", takeover(Duration.ofMillis(300)))
        .run(LVCREATE));
    assertEquals(ErrorKind.ABORTED, e.kind());
    assertEquals("storage 'local-lvm': commands of an earlier holder of its lock are still "
        + "running after 300 ms: lvremove (pid " + earlier.pid() + ", holder pod-old_9); no "
        + "command of this holder starts before they end (they are never killed); retry later",
        e.getMessage());
    assertEquals(0, fake.commands().size());
  }

  /**
   * The window between a holder's check and its fork: holder A passes its check and freezes
   * before its process exists. Holder B's first command must wait for A's gate, then find A's
   * command and wait for it, and start only after it ended.
   */
  @Test
  void aHolderFrozenBetweenItsCheckAndItsLaunchIsWaitedFor() throws Exception {
    FencedCommandRunner.Takeover gates = takeover(Duration.ofSeconds(20));
    Path lvcreate = SlowTools.link(dir, "lvcreate");
    CountDownLatch checked = new CountDownLatch(1);
    CountDownLatch thaw = new CountDownLatch(1);
    AtomicReference<Process> launched = new AtomicReference<>();
    CommandRunner frozenLauncher = new CommandRunner() {
      @Override
      public CommandResult run(Command command) {
        throw new AssertionError("launches are guarded");
      }

      @Override
      public CommandResult run(Command command, LaunchGuard guard) {
        try (LaunchGuard.Permit permit = guard.enter()) {
          checked.countDown();
          thaw.await(); // SIGSTOP here: checked, not yet forked
          ProcessBuilder builder = new ProcessBuilder(lvcreate.toString(), "1");
          builder.environment().putAll(command.environment());
          launched.set(builder.start());
        } catch (Exception e) {
          throw new AssertionError(e);
        }
        try {
          return new CommandResult(command, launched.get().waitFor(), null, null, Duration.ZERO);
        } catch (InterruptedException e) {
          throw new AssertionError(e);
        }
      }
    };
    CompletableFuture<CommandResult> a = CompletableFuture.supplyAsync(() ->
        new FencedCommandRunner(frozenLauncher, new FakeLock("pod-a_1").held(), "local-lvm",
            gates).run(LVCREATE));
    assertTrue(checked.await(10, TimeUnit.SECONDS));

    AtomicLong bStarted = new AtomicLong();
    AtomicBoolean aEndedFirst = new AtomicBoolean();
    CommandRunner b = command -> {
      bStarted.set(System.nanoTime());
      aEndedFirst.set(launched.get() != null && ended(launched.get().pid()));
      return new CommandResult(command, 0, null, null, Duration.ZERO);
    };
    CompletableFuture<CommandResult> bRun = CompletableFuture.supplyAsync(() ->
        new FencedCommandRunner(b, new FakeLock("pod-b_2").held(), "local-lvm", gates)
            .run(LVCREATE));
    Thread.sleep(500);
    assertEquals(0, bStarted.get(), "B waits while A is between its check and its launch");
    thaw.countDown();
    bRun.get(20, TimeUnit.SECONDS);
    assertTrue(aEndedFirst.get(), "B's command started only after A's command had ended");
    assertEquals(0, a.get(10, TimeUnit.SECONDS).exitCode());
  }

  @Test
  void aHolderFrozenAtItsLaunchPastTheWaitAbortsTheNextHolder() throws Exception {
    FencedCommandRunner.Takeover gates = takeover(Duration.ofMillis(300));
    try (PveFlock.Held frozen = gates.gate().acquire("local-lvm", Instant.now())) {
      FakeCommandRunner fake = new FakeCommandRunner();
      StorageException e = assertThrows(StorageException.class, () -> new FencedCommandRunner(
          fake, new FakeLock("pod-b_2").held(), "local-lvm", gates).run(LVCREATE));
      assertEquals(ErrorKind.ABORTED, e.kind());
      assertEquals("storage 'local-lvm': lvcreate cannot start: can't lock file '"
          + frozen.path() + "' - held by another process (another process of this driver, "
          + "between its lock check and the start of its command (it may be frozen there)) "
          + "until the deadline", e.getMessage());
      assertEquals(0, fake.commands().size());
    }
  }
}
