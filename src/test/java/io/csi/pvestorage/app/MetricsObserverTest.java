package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.metrics.DriverMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lock's observations end up as Prometheus meters labelled by storage only. */
class MetricsObserverTest {

  @TempDir Path lockDir;

  @Test
  void aRealLockFeedsWaitHoldAndFailureMeters() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    MetricsObserver observer = new MetricsObserver(new DriverMetrics(registry));
    Clock clock = Clock.systemUTC();
    try (LocalStorageLock lock = new LocalStorageLock(
        new PveFlock(lockDir, clock, ThreadLocalRandom.current(), Sleeper.SYSTEM), clock, observer)) {
      try (LockHandle handle = lock.acquire("local-lvm", Operation.of("alloc", "vm-0-x", clock),
          Instant.now().plusSeconds(10))) {
        handle.ensureValid();
      }
    }
    observer.leaseAcquired("local-lvm", true);
    observer.failed("local-lvm", ErrorKind.ABORTED);

    String text = registry.scrape();
    assertTrue(text.contains("pve_csi_lock_wait_seconds_count{storage=\"local-lvm\"} 1"), text);
    assertTrue(text.contains("pve_csi_lock_hold_seconds_count{storage=\"local-lvm\"} 1"), text);
    assertTrue(text.contains(
        "pve_csi_lock_acquisitions_total{storage=\"local-lvm\",takeover=\"true\"} 1"), text);
    assertTrue(text.contains(
        "pve_csi_lock_failures_total{kind=\"aborted\",storage=\"local-lvm\"} 1"), text);
  }
}
