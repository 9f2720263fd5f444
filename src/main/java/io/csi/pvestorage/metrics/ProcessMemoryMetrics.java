package io.csi.pvestorage.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The process's resident and virtual memory, as the kernel counts them, which is what a
 * container's memory limit and the node's OOM killer act on. Micrometer's JVM meters only see
 * the heap and the JVM's own pools, not the process as a whole.
 *
 * <p>{@code process_resident_memory_bytes} and {@code process_virtual_memory_bytes}, the names
 * Prometheus' own clients use, read from {@code VmRSS} and {@code VmSize} of {@code
 * /proc/self/status} at each scrape; NaN where that file does not exist or lacks the line.
 */
public final class ProcessMemoryMetrics implements MeterBinder {

  private final Path status;

  /** Reads this process's {@code /proc/self/status}. */
  public ProcessMemoryMetrics() {
    this(Path.of("/proc/self/status"));
  }

  /** Reads a status file of that format (for tests). */
  ProcessMemoryMetrics(Path status) {
    this.status = status;
  }

  /**
   * Registers both gauges. They hold this binder strongly: a gauge keeps its state object only
   * weakly unless told otherwise, and nothing else keeps a binder once it is bound, so after the
   * first garbage collection the gauges read NaN (seen in the guest's driver).
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    Gauge.builder("process.resident.memory", this, m -> m.kibibytes("VmRSS:") * 1024)
        .description("resident set size of the process (VmRSS)")
        .baseUnit(BaseUnits.BYTES)
        .strongReference(true)
        .register(registry);
    Gauge.builder("process.virtual.memory", this, m -> m.kibibytes("VmSize:") * 1024)
        .description("virtual memory size of the process (VmSize)")
        .baseUnit(BaseUnits.BYTES)
        .strongReference(true)
        .register(registry);
  }

  /** The value of a "Name:   1234 kB" line, or NaN. */
  double kibibytes(String field) {
    List<String> lines;
    try {
      lines = Files.readAllLines(status);
    } catch (IOException e) {
      return Double.NaN;
    }
    for (String line : lines) {
      if (line.startsWith(field)) {
        String[] words = line.substring(field.length()).trim().split("\\s+");
        if (words.length == 2 && words[1].equals("kB") && words[0].matches("[0-9]{1,18}")) {
          return Long.parseLong(words[0]);
        }
        return Double.NaN;
      }
    }
    return Double.NaN;
  }
}
