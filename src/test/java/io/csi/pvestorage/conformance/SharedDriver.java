package io.csi.pvestorage.conformance;

import io.csi.pvestorage.harness.VmHarness;

/**
 * One driver that the nested backend classes of a suite share, as a node plugin serves every
 * storage of its node: started when the first backend's cases need it (again if it died), and
 * stopped by the enclosing class after the last. A start costs tens of seconds in the emulated
 * guest, which is most of what a backend's cases would otherwise cost in addition.
 */
final class SharedDriver implements AutoCloseable {

  /** How the driver is started. */
  @FunctionalInterface
  interface Launcher {
    GuestDriver start(VmHarness vm) throws InterruptedException;
  }

  private final Launcher launcher;
  private GuestDriver driver;

  SharedDriver(Launcher launcher) {
    this.launcher = launcher;
  }

  synchronized GuestDriver get(VmHarness vm) throws InterruptedException {
    if (driver != null && !driver.isAlive()) {
      close();
    }
    if (driver == null) {
      driver = launcher.start(vm);
    }
    return driver;
  }

  /** The driver if one is running, without starting one. */
  synchronized java.util.Optional<GuestDriver> running() {
    return driver != null && driver.isAlive() ? java.util.Optional.of(driver)
        : java.util.Optional.empty();
  }

  @Override
  public synchronized void close() {
    if (driver != null) {
      driver.close();
      driver = null;
    }
  }
}
