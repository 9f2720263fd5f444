package io.csi.pvestorage.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.BaseUnits;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * Gauges of each storage's pool, refreshed on an interval: every pool is read once per
 * interval (at most one read of a pool in flight), and a scrape only reads the values kept
 * from the last successful read, so scrapes never run a storage command.
 *
 * <p>Meters, all labelled {@code storage} (storage ID) and {@code backend} ({@code lvmthin},
 * {@code zfspool}), never with a volume or claim name:
 *
 * <ul>
 *   <li>gauges {@code pve_csi_pool_size_bytes}, {@code _used_bytes}, {@code
 *       _allocatable_bytes} (what may still be handed out under the capacity policy), {@code
 *       _provisioned_bytes}, {@code _volumes}, {@code _snapshots}, {@code _active} (1 when the
 *       pool is active or imported), under the prefix {@code pve_csi_pool_};
 *   <li>{@code pve_csi_pool_metadata_size_bytes} and {@code _metadata_used_bytes}: only for
 *       pools that have separate metadata (thin pools);
 *   <li>{@code pve_csi_pool_health{state}}: only for pools with a health (zpools); one series
 *       per state of {@link #HEALTH_STATES}, 1 for the current state and 0 for the others, so
 *       that the label set is fixed. A state outside that list shows 0 everywhere;
 *   <li>{@code pve_csi_pool_last_refresh_timestamp_seconds}: Unix time of the last successful
 *       read;
 *   <li>counter {@code pve_csi_pool_refresh_failures_total}: reads that failed.
 * </ul>
 *
 * <p>A pool's gauges appear with its first successful read, so a pool that could never be
 * read shows only its failure counter rather than zeros. A failed read keeps the previous
 * values (their age is visible in the timestamp gauge), counts the failure and is logged once
 * per run of failures; the recovery is logged too.
 */
public final class PoolMetrics implements AutoCloseable {

  /** zpool health words, as {@code zpool list -o health} prints them. */
  public static final List<String> HEALTH_STATES = List.of(
      "ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED");

  static final String PREFIX = "pve.csi.pool.";
  static final String REFRESH_FAILURES = PREFIX + "refresh.failures";
  static final String LAST_REFRESH = PREFIX + "last.refresh.timestamp";

  private static final System.Logger LOG = System.getLogger(PoolMetrics.class.getName());

  /**
   * One read of a pool. Sizes in bytes.
   *
   * @param sizeBytes the pool's data size
   * @param usedBytes data in use
   * @param metadataSizeBytes separate metadata size (thin pools)
   * @param metadataUsedBytes separate metadata in use (thin pools)
   * @param allocatableBytes what may still be handed out under the capacity policy
   * @param provisionedBytes the sum of the volumes' provisioned sizes
   * @param volumes number of volumes
   * @param snapshots number of snapshots
   * @param active whether the pool is active or imported
   * @param health the pool's health word, where it has one
   */
  public record Reading(long sizeBytes, long usedBytes, OptionalLong metadataSizeBytes,
      OptionalLong metadataUsedBytes, long allocatableBytes, long provisionedBytes, int volumes,
      int snapshots, boolean active, Optional<String> health) {

    public Reading {
      Objects.requireNonNull(metadataSizeBytes, "metadataSizeBytes");
      Objects.requireNonNull(metadataUsedBytes, "metadataUsedBytes");
      Objects.requireNonNull(health, "health");
    }
  }

  /**
   * A pool to watch.
   *
   * @param storage the storage ID (label {@code storage})
   * @param backend the storage type (label {@code backend})
   * @param reader reads the pool; may run commands and throw, and runs only on the scheduler
   */
  public record Pool(String storage, String backend, Supplier<Reading> reader) {

    public Pool {
      Objects.requireNonNull(storage, "storage");
      Objects.requireNonNull(backend, "backend");
      Objects.requireNonNull(reader, "reader");
    }
  }

  private final List<Watched> watched;

  private PoolMetrics(List<Watched> watched) {
    this.watched = watched;
  }

  /**
   * Registers the failure counters and starts reading every pool: the first read at once,
   * then {@code interval} after the previous read of that pool ended (a slow read delays its
   * pool's next one instead of piling up).
   *
   * @param scheduler runs the reads; give the pool metrics one of their own, since a read runs
   *     storage commands that may take seconds
   * @param clock for the last-refresh timestamp
   * @return the running refresher; {@link #close()} stops it and removes its meters
   */
  public static PoolMetrics start(MeterRegistry registry, List<Pool> pools, Duration interval,
      ScheduledExecutorService scheduler, Clock clock) {
    Objects.requireNonNull(registry, "registry");
    Objects.requireNonNull(scheduler, "scheduler");
    Objects.requireNonNull(clock, "clock");
    if (interval.isNegative() || interval.isZero()) {
      throw new IllegalArgumentException("interval must be positive, got " + interval);
    }
    List<Watched> watched = new ArrayList<>();
    for (Pool pool : pools) {
      watched.add(new Watched(pool, registry, interval, scheduler, clock));
    }
    watched.forEach(w -> w.scheduleIn(Duration.ZERO));
    return new PoolMetrics(List.copyOf(watched));
  }

  /** Stops reading and removes every meter this instance registered. Idempotent. */
  @Override
  public void close() {
    watched.forEach(Watched::close);
  }

  /** One pool: its last reading, its meters and its place in the schedule. */
  private static final class Watched {

    private final Pool pool;
    private final MeterRegistry registry;
    private final Duration interval;
    private final ScheduledExecutorService scheduler;
    private final Clock clock;
    private final Tags tags;
    private final Counter failures;
    private final List<Meter> meters = new ArrayList<>();

    private volatile Reading last;
    private volatile double lastRefreshSeconds;
    // Touched by the reading task only; reads of one pool never overlap.
    private int failureStreak;
    private boolean metadataRegistered;
    private boolean healthRegistered;
    // Guarded by this.
    private boolean closed;
    private ScheduledFuture<?> next;

    Watched(Pool pool, MeterRegistry registry, Duration interval,
        ScheduledExecutorService scheduler, Clock clock) {
      this.pool = pool;
      this.registry = registry;
      this.interval = interval;
      this.scheduler = scheduler;
      this.clock = clock;
      this.tags = Tags.of("storage", pool.storage(), "backend", pool.backend());
      this.failures = Counter.builder(REFRESH_FAILURES)
          .description("pool reads for the pool gauges that failed; the gauges keep their "
              + "last values")
          .tags(tags)
          .register(registry);
      meters.add(failures);
    }

    synchronized void scheduleIn(Duration delay) {
      if (!closed) {
        next = scheduler.schedule(this::refresh, delay.toNanos(), TimeUnit.NANOSECONDS);
      }
    }

    private void refresh() {
      try {
        Reading reading = pool.reader().get();
        synchronized (this) {
          if (closed) {
            return;
          }
          boolean first = last == null;
          last = Objects.requireNonNull(reading, "reading");
          lastRefreshSeconds = clock.millis() / 1000.0;
          register(first, reading);
        }
        if (failureStreak > 0) {
          LOG.log(Level.INFO, "pool metrics of storage {0} refreshed again after {1} failed "
              + "attempt(s)", pool.storage(), failureStreak);
          failureStreak = 0;
        }
      } catch (RuntimeException e) {
        failures.increment();
        if (failureStreak++ == 0) {
          LOG.log(Level.WARNING, "cannot refresh the pool metrics of storage {0} ({1}); "
              + "keeping the last values, retrying every {2} s: {3}", pool.storage(),
              pool.backend(), interval.toSeconds(), e.getMessage());
        }
      } finally {
        scheduleIn(interval);
      }
    }

    /** Registers what this reading is the first to have; meters read {@link #last}. */
    private void register(boolean first, Reading reading) {
      if (first) {
        gauge("size", BaseUnits.BYTES, "data size of the pool", r -> r.sizeBytes());
        gauge("used", BaseUnits.BYTES, "data in use in the pool", r -> r.usedBytes());
        gauge("allocatable", BaseUnits.BYTES, "bytes that may still be provisioned under the "
            + "storage's capacity policy (what GetCapacity reports)", r -> r.allocatableBytes());
        gauge("provisioned", BaseUnits.BYTES, "sum of the provisioned sizes of the pool's "
            + "volumes, snapshots and bases", r -> r.provisionedBytes());
        gauge("volumes", null, "volumes in the pool, as ListVolumes lists them",
            r -> r.volumes());
        gauge("snapshots", null, "snapshots in the pool, as ListSnapshots lists them",
            r -> r.snapshots());
        gauge("active", null, "1 when the pool is active (LVM) or imported (ZFS)",
            r -> r.active() ? 1 : 0);
        meters.add(Gauge.builder(LAST_REFRESH, this, w -> w.lastRefreshSeconds)
            .description("Unix time of the last successful read of the pool")
            .baseUnit("seconds")
            .tags(tags)
            .strongReference(true)
            .register(registry));
      }
      if (!metadataRegistered && reading.metadataSizeBytes().isPresent()) {
        metadataRegistered = true;
        gauge("metadata.size", BaseUnits.BYTES, "metadata size of the thin pool",
            r -> r.metadataSizeBytes().isPresent() ? r.metadataSizeBytes().getAsLong()
                : Double.NaN);
        gauge("metadata.used", BaseUnits.BYTES, "metadata in use in the thin pool",
            r -> r.metadataUsedBytes().isPresent() ? r.metadataUsedBytes().getAsLong()
                : Double.NaN);
      }
      if (!healthRegistered && reading.health().isPresent()) {
        healthRegistered = true;
        for (String state : HEALTH_STATES) {
          meters.add(Gauge.builder(PREFIX + "health", this,
                  w -> w.last.health().map(state::equals).orElse(false) ? 1 : 0)
              .description("1 for the zpool's current health state, 0 for the others")
              .tags(tags)
              .tag("state", state)
              .strongReference(true)
              .register(registry));
        }
      }
    }

    private void gauge(String name, String unit, String description,
        ToDoubleFunction<Reading> value) {
      meters.add(Gauge.builder(PREFIX + name, this, w -> value.applyAsDouble(w.last))
          .description(description)
          .baseUnit(unit)
          .tags(tags)
          .strongReference(true)
          .register(registry));
    }

    synchronized void close() {
      if (closed) {
        return;
      }
      closed = true;
      if (next != null) {
        next.cancel(false);
      }
      meters.forEach(registry::remove);
    }
  }
}
