package io.csi.pvestorage.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Keeps the two listing benchmarks from rotting: each runs with two iterations over its full
 * 2,000-row listing. The benchmarks themselves refuse any command but the plugin's exact
 * listing argv and stop when a listing runs more than one command or returns another number
 * of volumes or snapshots than the listing holds; this checks that they got to the end and
 * printed the counts, never a time (this is not a timed test).
 */
class ListingBenchmarkSmokeTest {

  @Test
  void lvsReportOfTwoThousandLvsIsListedWithOneCommandPerListing() throws Exception {
    String printed = printed(out -> LvmListingBenchmark.run(2, out));
    assertTrue(printed.contains("report: 2000 LVs (+1 pool)"), printed);
    assertTrue(printed.contains("listImages -> 1700 images, listSnapshots -> 300 snapshots, "
        + "4 lvs calls for 4 listings"), printed);
  }

  @Test
  void zfsListingOfTwoThousandLinesIsListedWithOneCommandPerListing() throws Exception {
    String printed = printed(out -> ZfsListingBenchmark.run(2, out));
    assertTrue(printed.contains("667 volumes, 1334 snapshots; 2002 lines"), printed);
    assertTrue(printed.contains("5 zfs list calls for 5 listings"), printed);
  }

  @FunctionalInterface
  private interface Run {
    void to(PrintStream out) throws Exception;
  }

  private static String printed(Run run) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      run.to(out);
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }
}
