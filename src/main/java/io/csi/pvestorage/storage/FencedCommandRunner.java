package io.csi.pvestorage.storage;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.LaunchGuard;
import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.exec.ProcessTable.MarkedProcess;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.StorageLock;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The command runner of one storage's plugin: it makes sure that a command run under the storage
 * lock never overlaps a command of another holder of the same lock. Commands of threads that
 * hold no lock (listings, status) run unchecked and unmarked.
 *
 * <h2>How a takeover never overlaps a running command</h2>
 *
 * <ol>
 *   <li><b>Marking.</b> Each command run under a lock handle gets {@value #HOLDER_VARIABLE} (the
 *       handle's {@link LockHandle#holderIdentity()}) and {@value #STORAGE_VARIABLE} in its
 *       environment. Its children inherit them, and they stay when the driver that started it
 *       dies, so an orphan is still recognised.
 *   <li><b>Fencing at the launch.</b> Right before the process is created the handle is checked
 *       ({@link LockHandle#ensureValid()}: a Lease holder whose renewals failed for too long, or
 *       that lost the Lease, starts nothing more).
 *   <li><b>Waiting for earlier holders.</b> Before the first command of each handle, the runner
 *       waits until no live process carries this storage's marker with another holder's identity
 *       ({@link ProcessTable}), up to {@code maxWait}, then ABORTED naming the commands.
 *   <li><b>The launch gate.</b> Steps 2 and 3 and the creation of the process happen while
 *       holding the storage's launch gate ({@link PveFlock#launchGate}, an exclusive flock in a
 *       directory all driver processes of the node share), released as soon as the process
 *       exists with its marker. A holder frozen (SIGSTOP, a stalled VM) between its check and
 *       its fork still holds the gate, so the next holder's search in step 3 waits until that
 *       process exists and then finds it. A holder that is frozen before its check and resumes
 *       after a takeover finds its handle invalid at step 2, since its fence point (last renewal
 *       + duration - renew interval) lies before the moment another process may take the
 *       Lease (last renewal + duration), and both read the same clock on the same node.
 * </ol>
 *
 * <h2>What remains</h2>
 *
 * <ul>
 *   <li>Processes are seen only in this PID namespace: two driver pods on one node see each
 *       other's commands only with {@code hostPID} (the chart sets it for the node plugin).
 *   <li>The gate directory must be shared by all driver processes of the node (a host path).
 *   <li>The wall clock of the node must not step back by more than the renew interval between
 *       a takeover and the old holder's next check.
 *   <li>A program that rewrites its own environment, or a daemon a command leaves behind that
 *       clears it, is no longer recognised; lvm and zfs do neither.
 * </ul>
 */
public final class FencedCommandRunner implements CommandRunner {

  /** The environment variable naming the lock holder a command runs for. */
  public static final String HOLDER_VARIABLE = "PVE_CSI_LOCK_HOLDER";

  /** The environment variable naming the storage a locked command runs on. */
  public static final String STORAGE_VARIABLE = "PVE_CSI_STORAGE";

  private static final System.Logger LOG = System.getLogger(FencedCommandRunner.class.getName());
  private static final Duration FIRST_POLL = Duration.ofMillis(50);
  private static final Duration LONGEST_POLL = Duration.ofSeconds(1);

  /**
   * What a new holder uses to find and wait for the commands of earlier holders.
   *
   * @param gate the launch gate files
   * @param processes where running commands are found
   * @param maxWait how long the first command of a handle waits for the gate and for earlier
   *     holders' commands before it gives up with ABORTED
   * @param clock the time of that deadline
   */
  public record Takeover(PveFlock gate, ProcessTable processes, Duration maxWait, Clock clock) {
    public Takeover {
      Objects.requireNonNull(gate, "gate");
      Objects.requireNonNull(processes, "processes");
      Objects.requireNonNull(maxWait, "maxWait");
      Objects.requireNonNull(clock, "clock");
    }
  }

  private final CommandRunner delegate;
  private final StorageLock lock;
  private final String storeId;
  private final Optional<Takeover> takeover;
  /** The handle whose first command already waited for earlier holders. */
  private volatile LockHandle searched;

  /**
   * A runner that checks the handle before each launch but neither waits for earlier holders
   * nor takes a launch gate: for tests and tools where one process is alone by construction.
   */
  public FencedCommandRunner(CommandRunner delegate, StorageLock lock, String storeId) {
    this(delegate, lock, storeId, Optional.empty());
  }

  /** The production runner: see the class description. */
  public FencedCommandRunner(CommandRunner delegate, StorageLock lock, String storeId,
      Takeover takeover) {
    this(delegate, lock, storeId, Optional.of(takeover));
  }

  private FencedCommandRunner(CommandRunner delegate, StorageLock lock, String storeId,
      Optional<Takeover> takeover) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.lock = Objects.requireNonNull(lock, "lock");
    this.storeId = Objects.requireNonNull(storeId, "storeId");
    this.takeover = takeover;
  }

  @Override
  public CommandResult run(Command command) {
    return run(command, LaunchGuard.NONE);
  }

  /**
   * @throws StorageException ABORTED or UNAVAILABLE, without running the command, when the
   *     calling thread's lock on this storage is no longer valid; ABORTED when commands of an
   *     earlier holder still run after the wait
   */
  @Override
  public CommandResult run(Command command, LaunchGuard guard) {
    Optional<LockHandle> held = lock.currentHandle(storeId);
    if (held.isEmpty()) {
      return delegate.run(command, guard);
    }
    LockHandle handle = held.get();
    // Early, so that a holder that lost its Lease does not even queue for a command slot.
    handle.ensureValid();
    Command marked = command.withEnvironment(Map.of(
        HOLDER_VARIABLE, handle.holderIdentity(),
        STORAGE_VARIABLE, storeId));
    LaunchGuard fence = () -> admit(handle, marked);
    return delegate.run(marked, fence.andThen(guard));
  }

  /** Steps 2 to 4 of the class description; the permit releases the gate. */
  private LaunchGuard.Permit admit(LockHandle handle, Command command) {
    if (takeover.isEmpty()) {
      handle.ensureValid();
      return () -> {};
    }
    Takeover t = takeover.get();
    Instant deadline = t.clock().instant().plus(t.maxWait());
    PveFlock.Held gate;
    try {
      gate = t.gate().acquire(storeId, deadline);
    } catch (StorageException e) {
      throw new StorageException(e.kind(), "storage '" + storeId + "': " + command.verb()
          + " cannot start: " + e.getMessage(), e);
    }
    try {
      if (searched != handle) {
        awaitEarlierHolders(t, handle, command, deadline);
        searched = handle;
      }
      handle.ensureValid();
      return gate::close;
    } catch (RuntimeException e) {
      gate.close();
      throw e;
    }
  }

  private void awaitEarlierHolders(Takeover t, LockHandle handle, Command command,
      Instant deadline) {
    Duration poll = FIRST_POLL;
    boolean announced = false;
    long started = System.nanoTime();
    while (true) {
      List<MarkedProcess> others = t.processes().withEnvironment(STORAGE_VARIABLE, storeId)
          .stream()
          .filter(p -> !handle.holderIdentity().equals(p.environment().get(HOLDER_VARIABLE)))
          .toList();
      if (others.isEmpty()) {
        if (announced) {
          LOG.log(Level.INFO, "storage ''{0}'': the commands of the earlier lock holder ended"
              + " after {1} ms; {2} starts", storeId,
              Duration.ofNanos(System.nanoTime() - started).toMillis(), command.verb());
        }
        return;
      }
      Instant now = t.clock().instant();
      if (!now.isBefore(deadline)) {
        throw new StorageException(ErrorKind.ABORTED, "storage '" + storeId + "': commands of"
            + " an earlier holder of its lock are still running after " + human(t.maxWait())
            + ": " + describe(others) + "; no command of this holder starts before they end"
            + " (they are never killed); retry later");
      }
      if (!announced) {
        LOG.log(Level.WARNING, "storage ''{0}'': commands of an earlier holder of its lock are"
            + " still running: {1}; {2} waits for them to end", storeId, describe(others),
            command.verb());
        announced = true;
      }
      try {
        Thread.sleep(min(poll, Duration.between(now, deadline)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StorageException(ErrorKind.ABORTED, "the call was cancelled while "
            + command.verb() + " waited for the commands of an earlier holder of storage '"
            + storeId + "'", e);
      }
      poll = min(poll.multipliedBy(2), LONGEST_POLL);
    }
  }

  private static String describe(List<MarkedProcess> processes) {
    return processes.stream()
        .map(p -> p.name() + " (pid " + p.pid() + ", holder "
            + p.environment().getOrDefault(HOLDER_VARIABLE, "?") + ")")
        .collect(Collectors.joining(", "));
  }

  private static String human(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
