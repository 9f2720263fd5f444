package io.csi.pvestorage.harness;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.time.Duration;

/**
 * A long-running process in the harness guest started by {@link VmHarness#startGuestProcess},
 * e.g. the driver serving CSI on a TCP port. Its port is forwarded from the host's loopback
 * (unless it was started without one: then {@link #hostPort()} is 0).
 */
public final class GuestProcess implements RunningDriver, AutoCloseable {

  private static final int SIGTERM = 15;
  private static final int SIGKILL = 9;

  private final VmHarness vm;
  private final int pid;
  private final int hostPort;
  private final int guestPort;
  private final String logPath;
  private Integer exitCode;

  GuestProcess(VmHarness vm, int pid, int hostPort, int guestPort, String logPath) {
    this.vm = vm;
    this.pid = pid;
    this.hostPort = hostPort;
    this.guestPort = guestPort;
    this.logPath = logPath;
  }

  /** The process id in the guest (also its process group id). */
  public int pid() {
    return pid;
  }

  /** The port on 127.0.0.1 of the host that reaches {@link #guestPort()} in the guest. */
  @Override
  public int hostPort() {
    return hostPort;
  }

  public int guestPort() {
    return guestPort;
  }

  /** Path of the process's stdout+stderr log inside the guest. */
  public String logPath() {
    return logPath;
  }

  /** The log so far. */
  @Override
  public String log() {
    CommandResult result = vm.runner().run(Command.of(Duration.ofSeconds(10), "cat", logPath));
    return result.stdoutText();
  }

  /**
   * Waits until something listens on the guest port inside the guest. (A connection to the
   * forwarded host port succeeds as soon as qemu forwards it, whether or not the guest listens,
   * so readiness is checked in the guest.)
   *
   * @throws IllegalStateException if the process exits first or the deadline passes, with its log
   */
  public GuestProcess awaitListening(Duration deadline) throws InterruptedException {
    long end = System.nanoTime() + deadline.toNanos();
    while (System.nanoTime() < end) {
      CommandResult ss = vm.runner().run(Command.of(Duration.ofSeconds(10), "ss", "-H", "-l", "-t", "-n"))
          .requireSuccess();
      // Columns: State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
      boolean listening = ss.stdoutText().lines()
          .map(line -> line.trim().split("\\s+"))
          .anyMatch(cols -> cols.length >= 4 && cols[3].endsWith(":" + guestPort));
      if (listening) {
        return this;
      }
      int exit = vm.waitFor(pid, Duration.ofMillis(200));
      if (exit >= 0) {
        exitCode = exit;
        throw new IllegalStateException("guest process " + pid + " exited with " + exit
            + " before listening on " + guestPort + "; log:\n" + log());
      }
    }
    throw new IllegalStateException("guest process " + pid + " is not listening on " + guestPort
        + " after " + deadline.toSeconds() + " s; log:\n" + log());
  }

  /** Whether the process is still running. */
  @Override
  public boolean isAlive() {
    if (exitCode != null) {
      return false;
    }
    int exit = vm.waitFor(pid, Duration.ofMillis(1));
    if (exit >= 0) {
      exitCode = exit;
    }
    return exitCode == null;
  }

  /**
   * Stops the process: SIGTERM to its process group, SIGKILL after 10 s; removes the port
   * forward.
   *
   * @return its exit code (128 + signal number when a signal ended it)
   */
  @Override
  public synchronized int stop() {
    if (exitCode == null) {
      vm.signal(pid, SIGTERM);
      int exit = vm.waitFor(pid, Duration.ofSeconds(10));
      if (exit < 0) {
        vm.signal(pid, SIGKILL);
        exit = vm.waitFor(pid, Duration.ofSeconds(10));
      }
      exitCode = exit;
      if (hostPort > 0) {
        vm.removeForward(hostPort);
      }
    }
    return exitCode;
  }

  @Override
  public void close() {
    stop();
  }
}
