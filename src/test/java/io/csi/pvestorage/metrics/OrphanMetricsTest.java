package io.csi.pvestorage.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The orphan meters as Prometheus shows them: names, bounded labels, values from the source. */
class OrphanMetricsTest {

  private static final List<String> KINDS = List.of("volume-without-pv", "pv-without-volume",
      "snapshot-without-content", "hidden-volume");

  /** A source with fixed answers per storage and kind. */
  record Fixed(Map<String, Double> counts) implements OrphanMetrics.Source {
    @Override
    public double count(String storage, String kind) {
      return counts.getOrDefault(storage + "/" + kind, 0.0);
    }

    @Override
    public double bytes(String storage, String kind) {
      return count(storage, kind) * 1024;
    }

    @Override
    public double lastCheckSeconds(String storage) {
      return storage.equals("local-lvm") ? 1_765_000_000 : Double.NaN;
    }

    @Override
    public double failures(String storage, String source) {
      return source.equals("api") ? 2 : 0;
    }

    @Override
    public double cleanups(String storage, String kind) {
      return kind.equals("volume-without-pv") ? 1 : 0;
    }
  }

  @Test
  void everyStorageAndKindHasItsSeriesAndNothingNamesAVolume() {
    PrometheusMeterRegistry registry = DriverMetrics.newRegistry("node-a");
    try (OrphanMetrics metrics = OrphanMetrics.bind(registry, List.of("local-lvm", "local-zfs"),
        KINDS, new Fixed(Map.of("local-lvm/volume-without-pv", 3.0)))) {
      String text = registry.scrape();
      assertTrue(text.contains("pve_csi_orphans{kind=\"volume-without-pv\",node=\"node-a\","
          + "storage=\"local-lvm\"} 3.0"), text);
      assertTrue(text.contains("pve_csi_orphan_bytes{kind=\"volume-without-pv\",node=\"node-a\","
          + "storage=\"local-lvm\"} 3072.0"), text);
      assertTrue(text.contains("pve_csi_orphans{kind=\"hidden-volume\",node=\"node-a\","
          + "storage=\"local-zfs\"} 0.0"), "a storage without orphans shows 0s");
      assertTrue(text.contains("pve_csi_orphan_check_failures_total{node=\"node-a\",source=\"api\","
          + "storage=\"local-zfs\"} 2.0"), text);
      assertTrue(text.contains("pve_csi_orphan_cleanups_total{kind=\"volume-without-pv\","
          + "node=\"node-a\",storage=\"local-lvm\"} 1.0"), text);
      assertTrue(text.contains("pve_csi_orphan_last_check_timestamp_seconds{node=\"node-a\","
          + "storage=\"local-lvm\"} 1.765E9"), text);
      long series = text.lines().filter(l -> l.startsWith("pve_csi_orphan")).count();
      assertEquals(2 * (4 * 3 + 2 + 1), series, "4 kinds x 3 meters + 2 sources + 1 timestamp");
      assertFalse(text.contains("pvc-"), "no volume or claim name in any label");
    }
    assertFalse(registry.scrape().contains("pve_csi_orphan"), "closing removes the meters");
  }
}
