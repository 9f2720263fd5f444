package io.csi.pvestorage.app;

import io.csi.pvestorage.csi.RpcObserver;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.exec.CommandObserver;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.metrics.DriverMetrics;
import io.grpc.Status;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * Feeds what the RPC interceptor, the command runner and the storage lock report into the
 * driver's meters. The meters are attached after start-up (creating them costs time the first
 * Probe should not wait for); what finishes before that is not counted.
 */
final class MetricsObserver implements RpcObserver, CommandObserver, LockObserver {

  private volatile DriverMetrics metrics;

  /** An observer whose meters are {@link #attach attached} later. */
  MetricsObserver() {}

  MetricsObserver(DriverMetrics metrics) {
    attach(metrics);
  }

  /** Starts counting into {@code driverMetrics}. */
  void attach(DriverMetrics driverMetrics) {
    this.metrics = Objects.requireNonNull(driverMetrics, "driverMetrics");
  }

  @Override
  public void rpcFinished(String method, Status.Code code, Duration duration) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.rpcFinished(method, code.name(), duration);
    }
  }

  @Override
  public void commandFinished(String verb, Duration duration, String outcome) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.commandFinished(verb, duration, outcome);
    }
  }

  @Override
  public void waited(String storeid, Duration wait) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.lockWaited(storeid, wait);
    }
  }

  @Override
  public void held(String storeid, Duration hold) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.lockHeld(storeid, hold);
    }
  }

  @Override
  public void leaseAcquired(String storeid, boolean takeover) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.leaseAcquired(storeid, takeover);
    }
  }

  @Override
  public void failed(String storeid, ErrorKind kind) {
    DriverMetrics m = metrics;
    if (m != null) {
      m.lockFailed(storeid, kind.name().toLowerCase(Locale.ROOT));
    }
  }
}
