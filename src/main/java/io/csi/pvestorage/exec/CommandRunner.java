package io.csi.pvestorage.exec;

/**
 * The seam through which every external command runs: in production a local process (through
 * the configured host prefix), in tests a scripted fake or a command agent inside a VM.
 *
 * <p>Implementations run the argv as given, without a shell, with {@code LC_ALL=C} in the
 * environment, and keep stdout and stderr apart.
 *
 * <h2>Kill policy</h2>
 *
 * A command that only reads ({@link Command#readOnly()}) may be killed when its timeout passes
 * or when the calling thread is interrupted (a cancelled RPC). A command that changes storage is
 * never killed: a kill between a thin pool's message and its metadata commit can leave the pool
 * needing {@code lvconvert --repair}, and Proxmox VE never times out LVM either. On an interrupt
 * the calling thread keeps waiting for it and sets its interrupt flag again when it has ended,
 * so the operation stops at the next command boundary, under the lock, and a retry finds the
 * command's outcome. Its timeout is only the time after which it counts as stalled and is
 * reported.
 */
@FunctionalInterface
public interface CommandRunner {

  /**
   * Runs a command to completion.
   *
   * @return the result for any exit code; callers decide what a non-zero exit means. A command
   *     that changes storage returns its result even when the thread was interrupted meanwhile;
   *     the thread's interrupt flag is then set again
   * @throws io.csi.pvestorage.error.StorageException UNAVAILABLE when a read-only command timed
   *     out (it is killed) or a command could not be started; ABORTED when the thread was
   *     interrupted while a read-only command ran (it is killed) or before a command started
   *     (it does not start)
   */
  CommandResult run(Command command);

  /**
   * Runs a command whose launch is guarded: {@code guard} is entered right before the process
   * is created and released once it exists. Implementations that create no local process
   * (fakes, remote agents) enter and release it before running the command, which keeps its
   * check (fencing) in front of the command.
   *
   * @throws io.csi.pvestorage.error.StorageException as {@link #run(Command)}, or what the guard
   *     throws, in which case the command has not started
   */
  default CommandResult run(Command command, LaunchGuard guard) {
    guard.enter().close();
    return run(command);
  }
}
