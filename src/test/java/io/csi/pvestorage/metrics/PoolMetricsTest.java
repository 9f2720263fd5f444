package io.csi.pvestorage.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.ManualScheduler;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The pool gauges on a manual scheduler and clock: what a scrape shows, when pools are read
 * (on the interval, never on scrape) and what a failed read leaves behind.
 */
class PoolMetricsTest {

  private static final Duration INTERVAL = Duration.ofSeconds(30);
  private static final Instant START = Instant.parse("2026-01-01T00:00:00Z");
  private static final long GIB = 1L << 30;

  static final PoolMetrics.Reading THIN = new PoolMetrics.Reading(4 * GIB, GIB,
      OptionalLong.of(4 << 20), OptionalLong.of(487378), 5 * GIB, 3 * GIB, 6, 1, true,
      Optional.empty());
  static final PoolMetrics.Reading ZFS = new PoolMetrics.Reading(10_000, 1_000,
      OptionalLong.empty(), OptionalLong.empty(), 13_000, 7_000, 8, 3, true,
      Optional.of("DEGRADED"));

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final FakeClock clock = new FakeClock(START);
  private final ManualScheduler scheduler = new ManualScheduler(clock);
  private PoolMetrics metrics;

  @AfterEach
  void close() {
    if (metrics != null) {
      metrics.close();
    }
  }

  /** A reader that answers from a script and counts its calls; an empty script fails. */
  static final class ScriptedReader implements Supplier<PoolMetrics.Reading> {
    final Deque<Object> answers = new ArrayDeque<>();
    int calls;

    ScriptedReader then(Object... next) {
      answers.addAll(List.of(next));
      return this;
    }

    @Override
    public PoolMetrics.Reading get() {
      calls++;
      Object next = answers.isEmpty() ? new IllegalStateException("nothing scripted")
          : answers.poll();
      if (next instanceof RuntimeException e) {
        throw e;
      }
      return (PoolMetrics.Reading) next;
    }
  }

  private PoolMetrics start(PoolMetrics.Pool... pools) {
    metrics = PoolMetrics.start(registry, List.of(pools), INTERVAL, scheduler, clock);
    return metrics;
  }

  /** The value of the one series with exactly this name and these labels, or empty. */
  private Optional<Double> value(String series) {
    for (String line : registry.scrape().split("\n")) {
      if (line.startsWith(series + " ")) {
        return Optional.of(Double.parseDouble(line.substring(series.length() + 1).strip()));
      }
    }
    return Optional.empty();
  }

  private static String labels(String storage, String backend) {
    return "{backend=\"" + backend + "\",storage=\"" + storage + "\"}";
  }

  @Test
  void scrapeShowsEveryGaugeWithItsNameTypeAndLabels() {
    start(new PoolMetrics.Pool("local-lvm", "lvmthin", new ScriptedReader().then(THIN)),
        new PoolMetrics.Pool("local-zfs", "zfspool", new ScriptedReader().then(ZFS)));
    scheduler.runDue();
    String text = registry.scrape();
    for (String gauge : List.of("size_bytes", "used_bytes", "allocatable_bytes",
        "provisioned_bytes", "volumes", "snapshots", "active", "last_refresh_timestamp_seconds",
        "metadata_size_bytes", "metadata_used_bytes", "health")) {
      assertTrue(text.contains("# TYPE pve_csi_pool_" + gauge + " gauge\n"), gauge + "\n" + text);
    }
    assertTrue(text.contains("# TYPE pve_csi_pool_refresh_failures_total counter\n"), text);

    String lvm = labels("local-lvm", "lvmthin");
    assertEquals(Optional.of(4.0 * GIB), value("pve_csi_pool_size_bytes" + lvm));
    assertEquals(Optional.of(1.0 * GIB), value("pve_csi_pool_used_bytes" + lvm));
    assertEquals(Optional.of(5.0 * GIB), value("pve_csi_pool_allocatable_bytes" + lvm));
    assertEquals(Optional.of(3.0 * GIB), value("pve_csi_pool_provisioned_bytes" + lvm));
    assertEquals(Optional.of(4194304.0), value("pve_csi_pool_metadata_size_bytes" + lvm));
    assertEquals(Optional.of(487378.0), value("pve_csi_pool_metadata_used_bytes" + lvm));
    assertEquals(Optional.of(6.0), value("pve_csi_pool_volumes" + lvm));
    assertEquals(Optional.of(1.0), value("pve_csi_pool_snapshots" + lvm));
    assertEquals(Optional.of(1.0), value("pve_csi_pool_active" + lvm));
    assertEquals(Optional.of((double) START.getEpochSecond()),
        value("pve_csi_pool_last_refresh_timestamp_seconds" + lvm));
    assertEquals(Optional.of(0.0), value("pve_csi_pool_refresh_failures_total" + lvm));
    assertFalse(text.contains("pve_csi_pool_health{backend=\"lvmthin\""), "no health on LVM");

    String zfs = labels("local-zfs", "zfspool");
    assertEquals(Optional.of(10_000.0), value("pve_csi_pool_size_bytes" + zfs));
    assertEquals(Optional.of(8.0), value("pve_csi_pool_volumes" + zfs));
    assertEquals(Optional.of(3.0), value("pve_csi_pool_snapshots" + zfs));
    assertEquals(Optional.empty(), value("pve_csi_pool_metadata_size_bytes" + zfs),
        "no metadata gauges without separate metadata");
    for (String state : PoolMetrics.HEALTH_STATES) {
      assertEquals(Optional.of(state.equals("DEGRADED") ? 1.0 : 0.0), value(
          "pve_csi_pool_health{backend=\"zfspool\",state=\"" + state
              + "\",storage=\"local-zfs\"}"), state);
    }
  }

  @Test
  void poolsAreReadOnStartAndOnTheIntervalNeverOnScrape() {
    ScriptedReader reader = new ScriptedReader().then(THIN, THIN, THIN);
    start(new PoolMetrics.Pool("local-lvm", "lvmthin", reader));
    assertEquals(0, reader.calls, "reads run on the scheduler, not in start()");
    scheduler.runDue();
    assertEquals(1, reader.calls, "the first read at once");
    for (int i = 0; i < 5; i++) {
      registry.scrape();
    }
    clock.advance(INTERVAL.minusSeconds(1));
    scheduler.runDue();
    assertEquals(1, reader.calls, "neither scrapes nor an early tick read the pool");
    clock.advance(Duration.ofSeconds(1));
    scheduler.runDue();
    assertEquals(2, reader.calls);
    clock.advance(INTERVAL);
    scheduler.runDue();
    assertEquals(3, reader.calls);
    assertEquals(1, scheduler.pending(), "one read of a pool scheduled at a time");
  }

  @Test
  void aFailedReadKeepsTheLastValuesCountsAndRetriesOnTheInterval() {
    PoolMetrics.Reading fuller = new PoolMetrics.Reading(4 * GIB, 2 * GIB,
        THIN.metadataSizeBytes(), THIN.metadataUsedBytes(), 0, 3 * GIB, 7, 1, true,
        Optional.empty());
    ScriptedReader reader = new ScriptedReader().then(THIN,
        new IllegalStateException("lvs failed"), new IllegalStateException("lvs failed"),
        fuller);
    start(new PoolMetrics.Pool("local-lvm", "lvmthin", reader));
    String lvm = labels("local-lvm", "lvmthin");
    scheduler.runDue();
    for (int i = 0; i < 2; i++) {
      clock.advance(INTERVAL);
      scheduler.runDue();
    }
    assertEquals(3, reader.calls, "a failure does not stop the refresher");
    assertEquals(Optional.of(2.0), value("pve_csi_pool_refresh_failures_total" + lvm));
    assertEquals(Optional.of(1.0 * GIB), value("pve_csi_pool_used_bytes" + lvm), "kept");
    assertEquals(Optional.of(6.0), value("pve_csi_pool_volumes" + lvm), "kept");
    assertEquals(Optional.of((double) START.getEpochSecond()),
        value("pve_csi_pool_last_refresh_timestamp_seconds" + lvm), "shows the values' age");

    clock.advance(INTERVAL);
    scheduler.runDue();
    assertEquals(Optional.of(2.0 * GIB), value("pve_csi_pool_used_bytes" + lvm));
    assertEquals(Optional.of(0.0), value("pve_csi_pool_allocatable_bytes" + lvm));
    assertEquals(Optional.of(7.0), value("pve_csi_pool_volumes" + lvm));
    assertEquals(Optional.of((double) START.plus(INTERVAL.multipliedBy(3)).getEpochSecond()),
        value("pve_csi_pool_last_refresh_timestamp_seconds" + lvm));
    assertEquals(Optional.of(2.0), value("pve_csi_pool_refresh_failures_total" + lvm));
  }

  @Test
  void aPoolNeverReadShowsOnlyItsFailureCounterNotZeros() {
    start(new PoolMetrics.Pool("local-zfs", "zfspool", new ScriptedReader()));
    scheduler.runDue();
    String zfs = labels("local-zfs", "zfspool");
    assertEquals(Optional.of(1.0), value("pve_csi_pool_refresh_failures_total" + zfs));
    assertEquals(Optional.empty(), value("pve_csi_pool_size_bytes" + zfs));
    assertFalse(registry.scrape().contains("pve_csi_pool_health"));
  }

  @Test
  void anUnknownHealthWordIsZeroInEveryKnownState() {
    start(new PoolMetrics.Pool("local-zfs", "zfspool", new ScriptedReader().then(
        new PoolMetrics.Reading(1, 0, OptionalLong.empty(), OptionalLong.empty(), 1, 0, 0, 0,
            true, Optional.of("SOMETHING_NEW")))));
    scheduler.runDue();
    Matcher series = Pattern.compile("(?m)^pve_csi_pool_health\\{.*state=\"([A-Z_]+)\".*\\} (\\S+)$")
        .matcher(registry.scrape());
    int seen = 0;
    while (series.find()) {
      seen++;
      assertTrue(PoolMetrics.HEALTH_STATES.contains(series.group(1)), series.group(1));
      assertEquals("0.0", series.group(2));
    }
    assertEquals(PoolMetrics.HEALTH_STATES.size(), seen, "the label set stays fixed");
  }

  @Test
  void closeStopsReadingAndRemovesTheMeters() {
    ScriptedReader reader = new ScriptedReader().then(ZFS, ZFS);
    start(new PoolMetrics.Pool("local-zfs", "zfspool", reader));
    scheduler.runDue();
    metrics.close();
    metrics.close();
    clock.advance(INTERVAL);
    scheduler.runDue();
    assertEquals(1, reader.calls);
    assertEquals(0, scheduler.pending());
    assertFalse(registry.scrape().contains("pve_csi_pool_"), registry.scrape());
  }

  @Test
  void intervalMustBePositive() {
    assertThrows(IllegalArgumentException.class, () -> PoolMetrics.start(registry, List.of(),
        Duration.ZERO, scheduler, clock));
  }
}
