package io.csi.pvestorage.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Keeps {@link NodeStartupBenchmark} from rotting: one run with a one-second idle window and
 * no class-data archive (training one takes most of a minute), the driver from the test class
 * path (the jar is packaged after the tests). It checks only that the harness
 * still starts the packaged driver with the Lease lock against its API server and reads the
 * numbers, never the numbers themselves (this is not a timed test).
 */
class NodeStartupBenchmarkSmokeTest {

  @Test
  void oneRunReachesReadinessThroughTheAccessReviewsAndReadsTheProcess() throws Exception {
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8)) {
      NodeStartupBenchmark.run(
          new String[] {"--runs=1", "--idle=1", "--archive=none", "--jar=classpath"}, out);
    }
    String table = printed.toString(StandardCharsets.UTF_8);
    assertTrue(table.contains("{POST selfsubjectaccessreviews=3}"), table);
    assertTrue(table.lines().anyMatch(line -> line.startsWith("med ")), table);
  }
}
