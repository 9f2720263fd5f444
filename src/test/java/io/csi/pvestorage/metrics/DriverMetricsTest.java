package io.csi.pvestorage.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The driver's meters as Prometheus scrapes them, sized for a fleet of nodes. */
class DriverMetricsTest {

  private static final Pattern BUCKET =
      Pattern.compile("^([a-z_]+)_bucket\\{(.*)le=\"([^\"]+)\"(.*)} \\S+$");

  /** A series per label set and bucket: Micrometer's percentile histogram has about 70. */
  @Test
  void everyHistogramSeriesHasAtMostFifteenBuckets() {
    String text = ExportedMetrics.scrape();
    Map<String, Set<String>> buckets = new HashMap<>();
    for (String line : text.split("\n")) {
      Matcher m = BUCKET.matcher(line);
      if (m.matches()) {
        String others = (m.group(2) + m.group(4)).replaceAll(",+", ",").replaceAll("^,|,$", "");
        buckets.computeIfAbsent(m.group(1) + "{" + others + "}", k -> new TreeSet<>())
            .add(m.group(3));
      }
    }
    assertTrue(buckets.keySet().stream().anyMatch(k -> k.startsWith("pve_csi_rpc_duration_seconds")),
        text);
    assertTrue(buckets.keySet().stream().anyMatch(k -> k.startsWith("pve_csi_lock_wait_seconds")));
    for (var e : buckets.entrySet()) {
      assertTrue(e.getValue().size() <= 15, e.getKey() + " has " + e.getValue().size()
          + " buckets: " + e.getValue());
      assertTrue(e.getValue().contains("+Inf"), e.getKey());
    }
    assertEquals(DriverMetrics.BUCKETS.size() + 1,
        buckets.get("pve_csi_lock_wait_seconds{node=\"node-a\",storage=\"local-lvm\"}").size());
  }

  /** Every series names its node, the driver's own and the JVM's alike. */
  @Test
  void everySeriesCarriesTheNodeLabel() {
    String text = ExportedMetrics.scrape();
    long samples = 0;
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      samples++;
      assertTrue(line.contains("node=\"" + ExportedMetrics.NODE + "\""), line);
    }
    assertTrue(samples > 50, text);
    assertThrows(IllegalArgumentException.class, () -> DriverMetrics.newRegistry(" "));
  }

  @Test
  void buildInfoReadinessAndProcessMemoryAreExported() {
    String text = ExportedMetrics.scrape();
    assertTrue(text.contains("pve_csi_build_info{csi_spec=\"1.12.0\",mode=\"node\","
        + "node=\"node-a\",version=\"1.2.3\"} 1"), text);
    assertTrue(text.contains("pve_csi_ready{node=\"node-a\"} 1"), text);
    Matcher rss = Pattern.compile("(?m)^process_resident_memory_bytes\\{node=\"node-a\"} (\\S+)$")
        .matcher(text);
    assertTrue(rss.find(), text);
    // A JVM that runs these tests is larger than 16 MiB and smaller than 64 GiB.
    double bytes = Double.parseDouble(rss.group(1));
    assertTrue(bytes > (16 << 20) && bytes < (64L << 30), rss.group(1));
    assertTrue(text.contains("process_virtual_memory_bytes{"), text);
    assertTrue(text.contains("process_files_open_files{"), text);
    assertTrue(text.contains("process_start_time_seconds{"), text);
  }

  @Test
  void processMemoryReadsTheKernelsStatusFile(@TempDir Path dir) throws Exception {
    Path status = dir.resolve("status");
    Files.writeString(status, "Name:\tjava\nVmSize:\t 4096000 kB\nVmRSS:\t  123456 kB\n");
    ProcessMemoryMetrics memory = new ProcessMemoryMetrics(status);
    assertEquals(123456, memory.kibibytes("VmRSS:"));
    assertEquals(4096000, memory.kibibytes("VmSize:"));
    assertTrue(Double.isNaN(memory.kibibytes("VmSwap:")), "a missing line is unknown, not 0");
    Files.writeString(status, "VmRSS:\t12 pages\n");
    assertTrue(Double.isNaN(memory.kibibytes("VmRSS:")), "another unit is not guessed at");
    assertTrue(Double.isNaN(new ProcessMemoryMetrics(dir.resolve("absent")).kibibytes("VmRSS:")));
  }

  @Test
  void processMemorySurvivesAGarbageCollectionOfItsBinder() throws Exception {
    io.micrometer.prometheusmetrics.PrometheusMeterRegistry registry =
        new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
            io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT);
    java.lang.ref.WeakReference<ProcessMemoryMetrics> binder;
    {
      ProcessMemoryMetrics memory = new ProcessMemoryMetrics();
      memory.bindTo(registry);
      binder = new java.lang.ref.WeakReference<>(memory);
    }
    for (int i = 0; i < 20 && binder.get() != null; i++) {
      System.gc();
      Thread.sleep(10);
    }
    // The registry must hold the binder: were it weakly held, it would be gone here and the
    // gauge NaN.
    double rss = registry.get("process.resident.memory").gauge().value();
    assertTrue(rss > (16 << 20), "resident memory after a GC: " + rss);
  }
}
