package io.csi.pvestorage.metrics;

import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.ManualScheduler;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scrape of the meters a node driver registers, after one event of each kind, as
 * ServeCommand wires them: what alert rules and dashboards may name.
 */
public final class ExportedMetrics {

  /** The node label every series carries in this scrape. */
  public static final String NODE = "node-a";

  private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*})? \\S+$");

  private ExportedMetrics() {}

  /** The Prometheus text of a registry that saw one of everything. */
  public static String scrape() {
    PrometheusMeterRegistry registry = DriverMetrics.newRegistry(NODE);
    DriverMetrics metrics = new DriverMetrics(registry).withJvmMeters()
        .withBuildInfo("1.2.3", "1.12.0", "node")
        .withReadiness(() -> true)
        .withCommandGauges(List.of("local-lvm"), storage -> Duration.ofSeconds(3), s -> false);
    metrics.rpcFinished("CreateVolume", "OK", Duration.ofMillis(30));
    metrics.commandFinished("lvcreate", Duration.ofMillis(200), "ok");
    metrics.commandFinished("lvremove", Duration.ofSeconds(2), "failed");
    metrics.lockWaited("local-lvm", Duration.ofMillis(3));
    metrics.lockHeld("local-lvm", Duration.ofSeconds(1));
    metrics.leaseAcquired("local-lvm", false);
    metrics.lockFailed("local-lvm", "ABORTED");
    FakeClock clock = new FakeClock(Instant.parse("2026-01-01T00:00:00Z"));
    ManualScheduler scheduler = new ManualScheduler(clock);
    PoolMetrics.Reading thin = new PoolMetrics.Reading(4L << 30, 1L << 30,
        OptionalLong.of(4 << 20), OptionalLong.of(1 << 20), 5L << 30, 3L << 30, 6, 1, true,
        Optional.empty());
    PoolMetrics.Reading zfs = new PoolMetrics.Reading(10_000, 1_000, OptionalLong.empty(),
        OptionalLong.empty(), 13_000, 7_000, 8, 3, true, Optional.of("ONLINE"));
    try (PoolMetrics pools = PoolMetrics.start(registry, List.of(
        new PoolMetrics.Pool("local-lvm", "lvmthin", () -> thin),
        new PoolMetrics.Pool("local-zfs", "zfspool", () -> zfs)), Duration.ofSeconds(30),
        scheduler, clock)) {
      scheduler.runDue();
      return registry.scrape();
    }
  }

  /** The names of the samples in a scrape ({@code _bucket}, {@code _total}, ... included). */
  public static Set<String> sampleNames(String scrape) {
    Set<String> names = new TreeSet<>();
    for (String line : scrape.split("\n")) {
      Matcher m = SAMPLE.matcher(line);
      if (!line.startsWith("#") && m.matches()) {
        names.add(m.group(1));
      }
    }
    return names;
  }
}
