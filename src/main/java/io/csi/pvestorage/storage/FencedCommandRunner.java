package io.csi.pvestorage.storage;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.StorageLock;
import java.util.Objects;

/**
 * The command runner of one storage's plugin: before each command it checks that the storage
 * lock the calling thread holds for this storage is still valid, so that a holder whose Lease
 * may have expired (renewals failing) never starts another storage command under it. Commands
 * of threads that hold no lock (listings, status) run unchecked.
 */
public final class FencedCommandRunner implements CommandRunner {

  private final CommandRunner delegate;
  private final StorageLock lock;
  private final String storeId;

  public FencedCommandRunner(CommandRunner delegate, StorageLock lock, String storeId) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.lock = Objects.requireNonNull(lock, "lock");
    this.storeId = Objects.requireNonNull(storeId, "storeId");
  }

  /**
   * @throws io.csi.pvestorage.error.StorageException ABORTED or UNAVAILABLE, without running
   *     the command, when the calling thread's lock on this storage is no longer valid
   */
  @Override
  public CommandResult run(Command command) {
    lock.currentHandle(storeId).ifPresent(LockHandle::ensureValid);
    return delegate.run(command);
  }
}
