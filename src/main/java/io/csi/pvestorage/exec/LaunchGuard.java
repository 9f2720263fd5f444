package io.csi.pvestorage.exec;

/**
 * What must hold at the moment a command's process is created, and for no longer: fencing of
 * the storage lock. {@link #enter()} runs just before the process is created and may refuse by
 * throwing; the permit it returns is closed as soon as the process exists (its program has
 * been executed, so it carries its environment) or could not be started.
 *
 * <p>Holding a permit across the creation closes the window between "the lock is still mine"
 * and "the process exists": a process that is frozen in between still holds the permit, so a
 * new lock holder that must see every running command of the old one waits for it.
 */
@FunctionalInterface
public interface LaunchGuard {

  /** Lets every launch through. */
  LaunchGuard NONE = () -> () -> {};

  /**
   * Called right before the process is created.
   *
   * @return the permit to close once the process exists
   * @throws io.csi.pvestorage.error.StorageException when the command must not start
   */
  Permit enter();

  /** This guard, then {@code inner}, released in reverse order. */
  default LaunchGuard andThen(LaunchGuard inner) {
    return () -> {
      Permit outer = enter();
      try {
        Permit second = inner.enter();
        return () -> {
          try {
            second.close();
          } finally {
            outer.close();
          }
        };
      } catch (RuntimeException e) {
        outer.close();
        throw e;
      }
    };
  }

  /** Held while the process is being created. */
  @FunctionalInterface
  interface Permit extends AutoCloseable {
    @Override
    void close();
  }
}
