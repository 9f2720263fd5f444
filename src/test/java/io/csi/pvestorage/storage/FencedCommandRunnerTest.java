package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.StorageLock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class FencedCommandRunnerTest {

  /** A lock whose only handle can be made invalid, as a failed renewal would. */
  private static final class FakeLock implements StorageLock {
    final AtomicBoolean valid = new AtomicBoolean(true);
    final AtomicBoolean held = new AtomicBoolean(false);
    final LockHandle handle = new LockHandle() {
      @Override
      public String storeid() {
        return "local-lvm";
      }

      @Override
      public Operation operation() {
        return new Operation("alloc", "vm-0-x", Instant.EPOCH);
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

  @Test
  void aCommandUnderAValidLockRuns() {
    FakeLock lock = new FakeLock();
    FakeCommandRunner fake = new FakeCommandRunner().expect("lvcreate", "x").thenSucceed();
    lock.acquire("local-lvm", null, Instant.MAX);
    new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE);
    fake.verifyAllConsumed();
  }

  @Test
  void aCommandUnderALockThatMayHaveExpiredNeverStarts() {
    FakeLock lock = new FakeLock();
    FakeCommandRunner fake = new FakeCommandRunner();
    lock.acquire("local-lvm", null, Instant.MAX);
    lock.valid.set(false);
    StorageException e = assertThrows(StorageException.class,
        () -> new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertEquals(0, fake.commands().size(), "nothing ran");
  }

  @Test
  void readsWithoutALockAreNotChecked() {
    FakeLock lock = new FakeLock();
    lock.valid.set(false);
    FakeCommandRunner fake = new FakeCommandRunner().expect("lvcreate", "x").thenSucceed();
    new FencedCommandRunner(fake, lock, "local-lvm").run(LVCREATE);
    fake.verifyAllConsumed();
  }
}
