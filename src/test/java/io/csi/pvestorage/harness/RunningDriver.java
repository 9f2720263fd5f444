package io.csi.pvestorage.harness;

/**
 * A driver process that runs in the harness guest and serves CSI on a port forwarded to the
 * host: started directly ({@link GuestProcess}) or as a container ({@link PodContainer}).
 */
public interface RunningDriver {

  /** The port on the host's loopback that reaches the driver's CSI endpoint. */
  int hostPort();

  /** The driver's output so far. */
  String log();

  boolean isAlive();

  /** Stops the driver (SIGTERM, then SIGKILL); returns its exit code. */
  int stop();
}
