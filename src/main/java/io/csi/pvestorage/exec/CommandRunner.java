package io.csi.pvestorage.exec;

/**
 * The seam through which every external command runs: in production a local process (through
 * the configured host prefix), in tests a scripted fake or a command agent inside a VM.
 *
 * <p>Implementations run the argv as given, without a shell, with {@code LC_ALL=C} in the
 * environment, and keep stdout and stderr apart.
 */
@FunctionalInterface
public interface CommandRunner {

  /**
   * Runs a command to completion.
   *
   * @return the result for any exit code; callers decide what a non-zero exit means
   * @throws io.csi.pvestorage.error.StorageException UNAVAILABLE when the command timed out or
   *     could not be started, ABORTED when the calling thread was interrupted (the command is
   *     killed in both cases)
   */
  CommandResult run(Command command);
}
