package io.csi.pvestorage.harness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** The command channel's contract, against the real agent in the guest. */
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ_WRITE)
class GuestCommandRunnerIT {

  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  @Test
  void stdoutAndStderrAreKeptApartAndBinarySafe(GuestCommandRunner guest) {
    CommandResult result = guest.run(Command.of(TIMEOUT, "python3", "-c",
        "import sys; sys.stdout.buffer.write(bytes(range(256))); sys.stderr.write('warn\\n'); sys.exit(3)"));
    byte[] all = new byte[256];
    for (int i = 0; i < 256; i++) {
      all[i] = (byte) i;
    }
    assertEquals(3, result.exitCode());
    assertArrayEquals(all, result.stdout());
    assertEquals("warn\n", result.stderrText());
  }

  @Test
  void argvIsNotInterpretedByAShell(GuestCommandRunner guest) {
    CommandResult result = guest.run(Command.of(TIMEOUT, "echo", "$HOME", "a;b", "'q'", "*"));
    assertEquals("$HOME a;b 'q' *\n", result.stdoutText());
  }

  @Test
  void environmentHasLcAllCAndTheCommandsVariables(GuestCommandRunner guest) {
    CommandResult result = guest.run(new Command(List.of("env"), TIMEOUT, Map.of("PVE_TEST", "x=y z")));
    List<String> lines = result.stdoutText().lines().toList();
    assertTrue(lines.contains("LC_ALL=C"), lines.toString());
    assertTrue(lines.contains("PVE_TEST=x=y z"), lines.toString());
  }

  @Test
  void largeOutputArrivesWhole(GuestCommandRunner guest) {
    CommandResult result = guest.run(Command.of(TIMEOUT, "head", "-c", "3000000", "/dev/zero"));
    assertEquals(3_000_000, result.stdout().length);
  }

  @Test
  void timeoutKillsTheProcessGroupAndIsUnavailable(GuestCommandRunner guest) {
    long start = System.nanoTime();
    StorageException e = assertThrows(StorageException.class, () -> guest.run(Command.of(
        Duration.ofSeconds(1), "python3", "-c",
        "import os, time; os.fork(); open('/tmp/timeout-probe', 'w').write(str(os.getpgrp())); time.sleep(60)")));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("timed out"), e.getMessage());
    assertTrue(Duration.ofNanos(System.nanoTime() - start).toSeconds() < 10);
    String group = guest.run(Command.of(TIMEOUT, "cat", "/tmp/timeout-probe")).stdoutText().strip();
    CommandResult left = guest.run(Command.of(TIMEOUT, "pgrep", "-g", group));
    assertEquals(1, left.exitCode(), "no process of the group survives: " + left.stdoutText());
  }

  @Test
  void missingProgramIsUnavailable(GuestCommandRunner guest) {
    StorageException e = assertThrows(StorageException.class,
        () -> guest.run(Command.of(TIMEOUT, "/no/such/tool", "x")));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("cannot start /no/such/tool"), e.getMessage());
  }

  /** Requests are multiplexed: eight 1-second sleeps finish in far less than 8 s. */
  @Test
  void concurrentCommandsRunConcurrently(GuestCommandRunner guest) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      long start = System.nanoTime();
      List<Future<CommandResult>> results = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String marker = "job-" + i;
        results.add(pool.submit(() -> guest.run(Command.of(TIMEOUT, "python3", "-c",
            "import time, sys; time.sleep(1); print(sys.argv[1])", marker))));
      }
      for (int i = 0; i < 8; i++) {
        assertEquals("job-" + i + "\n", results.get(i).get().stdoutText());
      }
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.toMillis() < 6000, "took " + took);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Prints the channel's round trip so the docs can quote it; fails only if it is absurd. */
  @Test
  void roundTripIsCheap(GuestCommandRunner guest) {
    int n = 30;
    long[] micros = new long[n];
    for (int i = 0; i < n; i++) {
      long start = System.nanoTime();
      guest.run(Command.of(TIMEOUT, "true")).requireSuccess();
      micros[i] = (System.nanoTime() - start) / 1000;
    }
    java.util.Arrays.sort(micros);
    VmHarness.log("agent round trip for `true` x%d: min %.1f ms, median %.1f ms, max %.1f ms",
        n, micros[0] / 1000.0, micros[n / 2] / 1000.0, micros[n - 1] / 1000.0);
    assertTrue(micros[n / 2] < 1_000_000, "median round trip " + micros[n / 2] + " us");
  }
}
