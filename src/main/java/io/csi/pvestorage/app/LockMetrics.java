package io.csi.pvestorage.app;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.metrics.DriverMetrics;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/** Feeds what the storage lock reports into the driver's meters. */
final class LockMetrics implements LockObserver {

  private final DriverMetrics metrics;

  LockMetrics(DriverMetrics metrics) {
    this.metrics = Objects.requireNonNull(metrics, "metrics");
  }

  @Override
  public void waited(String storeid, Duration wait) {
    metrics.lockWaited(storeid, wait);
  }

  @Override
  public void held(String storeid, Duration hold) {
    metrics.lockHeld(storeid, hold);
  }

  @Override
  public void leaseAcquired(String storeid, boolean takeover) {
    metrics.leaseAcquired(storeid, takeover);
  }

  @Override
  public void failed(String storeid, ErrorKind kind) {
    metrics.lockFailed(storeid, kind.name().toLowerCase(Locale.ROOT));
  }
}
