package io.csi.pvestorage.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.BaseUnits;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Meters of the orphan reconciler, read from what its last pass found; a scrape runs nothing.
 * Labels are bounded: {@code storage} (storage ID), {@code kind} (one of four words), {@code
 * source} ({@code api} or {@code storage}); never a volume, PV or claim name.
 *
 * <ul>
 *   <li>gauges {@code pve_csi_orphans{storage,kind}} and {@code
 *       pve_csi_orphan_bytes{storage,kind}}: what the last complete pass of the storage found
 *       (a pass that could not read the API or the storage keeps the previous values);
 *   <li>gauge {@code pve_csi_orphan_last_check_timestamp_seconds{storage}}: Unix time of the
 *       last complete pass;
 *   <li>counters {@code pve_csi_orphan_check_failures_total{storage,source}} and {@code
 *       pve_csi_orphan_cleanups_total{storage,kind}}.
 * </ul>
 */
public final class OrphanMetrics implements AutoCloseable {

  static final String PREFIX = "pve.csi.orphan";

  /** What the meters read; each method answers for one label set. */
  public interface Source {
    /** Orphans of the kind in the last complete pass of the storage. */
    double count(String storage, String kind);

    /** Their bytes. */
    double bytes(String storage, String kind);

    /** Unix time in seconds of the last complete pass of the storage; NaN before the first. */
    double lastCheckSeconds(String storage);

    /** Passes that failed, by source {@code api} or {@code storage}. */
    double failures(String storage, String source);

    /** Orphans clean-up deleted. */
    double cleanups(String storage, String kind);
  }

  private final MeterRegistry registry;
  private final List<Meter> meters;

  private OrphanMetrics(MeterRegistry registry, List<Meter> meters) {
    this.registry = registry;
    this.meters = meters;
  }

  /**
   * Registers the meters of every storage and kind (all of them from the start, so that a
   * storage without orphans shows 0s rather than nothing).
   */
  public static OrphanMetrics bind(MeterRegistry registry, List<String> storages,
      List<String> kinds, Source source) {
    Objects.requireNonNull(source, "source");
    List<Meter> meters = new ArrayList<>();
    for (String storage : storages) {
      for (String kind : kinds) {
        Tags tags = Tags.of("storage", storage, "kind", kind);
        meters.add(Gauge.builder("pve.csi.orphans", source, s -> s.count(storage, kind))
            .description("orphans the last orphan check of the storage found, by kind")
            .tags(tags).strongReference(true).register(registry));
        meters.add(Gauge.builder(PREFIX, source, s -> s.bytes(storage, kind))
            .description("bytes of those orphans: provisioned size (volumes, PVs), restore "
                + "size (snapshots), bytes held in the pool (hidden volumes)")
            .baseUnit(BaseUnits.BYTES).tags(tags).strongReference(true).register(registry));
        meters.add(FunctionCounter.builder(PREFIX + ".cleanups", source,
                s -> s.cleanups(storage, kind))
            .description("orphans the clean-up deleted")
            .tags(tags).register(registry));
      }
      for (String from : List.of("api", "storage")) {
        meters.add(FunctionCounter.builder(PREFIX + ".check.failures", source,
                s -> s.failures(storage, from))
            .description("orphan checks of the storage that could not read the API or the "
                + "storage; they report nothing and delete nothing")
            .tags(Tags.of("storage", storage, "source", from)).register(registry));
      }
      meters.add(Gauge.builder(PREFIX + ".last.check.timestamp", source,
              s -> s.lastCheckSeconds(storage))
          .description("Unix time of the last complete orphan check of the storage")
          .baseUnit("seconds").tags(Tags.of("storage", storage)).strongReference(true)
          .register(registry));
    }
    return new OrphanMetrics(registry, List.copyOf(meters));
  }

  /** Removes the meters. */
  @Override
  public void close() {
    meters.forEach(registry::remove);
  }
}
