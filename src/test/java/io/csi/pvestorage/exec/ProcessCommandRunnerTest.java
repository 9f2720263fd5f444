package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The local process runner against real programs of this machine (coreutils). */
class ProcessCommandRunnerTest {

  private static final Duration TEN_SECONDS = Duration.ofSeconds(10);
  private final ProcessCommandRunner runner = ProcessCommandRunner.local();

  @Test
  void stdoutAndStderrStayApartAndTheExitCodeIsKept() {
    CommandResult result = runner.run(Command.of(TEN_SECONDS, "ls", "-d", "/", "/nonexistent-x"));
    assertEquals(2, result.exitCode());
    assertEquals("/\n", result.stdoutText());
    assertTrue(result.stderrText().contains("/nonexistent-x"), result.stderrText());
    assertTrue(!result.succeeded());
  }

  @Test
  void outputIsBinarySafe() {
    CommandResult result = runner.run(Command.of(TEN_SECONDS, "printf", "a\\000\\377b"));
    assertArrayEquals(new byte[] {'a', 0, (byte) 0xff, 'b'}, result.stdout());
  }

  @Test
  void theLocaleIsAlwaysCAndExtraEnvironmentIsPassed() {
    assertEquals("C\n", runner.run(Command.of(TEN_SECONDS, "printenv", "LC_ALL")).stdoutText());
    Command withEnv = new Command(List.of("printenv", "DM_DISABLE_UDEV"), TEN_SECONDS,
        java.util.Map.of("DM_DISABLE_UDEV", "1"));
    assertEquals("1\n", runner.run(withEnv).stdoutText());
  }

  @Test
  void thePrefixGoesInFrontButTheResultNamesTheCommand() {
    ProcessCommandRunner prefixed = new ProcessCommandRunner(List.of("env", "X_PREFIX=on"), 1 << 20);
    CommandResult result = prefixed.run(Command.of(TEN_SECONDS, "printenv", "X_PREFIX"));
    assertEquals("on\n", result.stdoutText());
    assertEquals(List.of("printenv", "X_PREFIX"), result.command().argv());
  }

  @Test
  void aTimeoutKillsTheCommandAndIsUnavailable() {
    long start = System.nanoTime();
    StorageException e = assertThrows(StorageException.class,
        () -> runner.run(Command.of(Duration.ofMillis(300), "sleep", "30")));
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertEquals("sleep timed out after 300 ms", e.getMessage());
    assertTrue(tookMs < 5_000, "killed promptly, took " + tookMs + " ms");
  }

  @Test
  void anInterruptedCallerKillsTheCommandAndIsAborted() throws Exception {
    AtomicReference<Thread> worker = new AtomicReference<>();
    CompletableFuture<StorageException> failure = CompletableFuture.supplyAsync(() -> {
      worker.set(Thread.currentThread());
      try {
        runner.run(Command.of(Duration.ofSeconds(30), "sleep", "30"));
        return null;
      } catch (StorageException e) {
        return e;
      }
    });
    while (worker.get() == null) {
      Thread.onSpinWait();
    }
    Thread.sleep(200);
    worker.get().interrupt();
    StorageException e = failure.get(5, TimeUnit.SECONDS);
    assertEquals(ErrorKind.ABORTED, e.kind());
    assertEquals("sleep was cancelled", e.getMessage());
  }

  @Test
  void aMissingProgramIsUnavailableAndNamed() {
    StorageException e = assertThrows(StorageException.class,
        () -> runner.run(Command.of(TEN_SECONDS, "no-such-tool-xyz", "--version")));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().startsWith("cannot start no-such-tool-xyz"), e.getMessage());
  }

  @Test
  void outputBeyondTheBoundFailsInsteadOfBeingTruncatedSilently() {
    ProcessCommandRunner small = new ProcessCommandRunner(List.of(), 100);
    StorageException e = assertThrows(StorageException.class,
        () -> small.run(Command.of(TEN_SECONDS, "seq", "1", "1000")));
    assertEquals(ErrorKind.INTERNAL, e.kind());
    assertEquals("seq wrote more than 100 bytes of output", e.getMessage());
  }

  @Test
  void commandsRejectWhatNoArgvMayHold() {
    assertThrows(IllegalArgumentException.class, () -> Command.of(TEN_SECONDS, List.of()));
    assertThrows(IllegalArgumentException.class, () -> Command.of(TEN_SECONDS, "lvs", "a\0b"));
    assertThrows(IllegalArgumentException.class, () -> Command.of(Duration.ZERO, "lvs"));
  }

  @Test
  void verbsAreBoundedOperationNames() {
    assertEquals("zfs create", Command.of(TEN_SECONDS, "zfs", "create", "-V", "1G", "p/x").verb());
    assertEquals("zpool list", Command.of(TEN_SECONDS, "/sbin/zpool", "list").verb());
    assertEquals("lvcreate", Command.of(TEN_SECONDS, "/sbin/lvcreate", "-V", "1g").verb());
    assertEquals("zfs", Command.of(TEN_SECONDS, "zfs", "-?").verb());
  }

  @Test
  void anObserverSeesEveryOutcome() {
    List<String> seen = new java.util.ArrayList<>();
    ObservedCommandRunner observed = new ObservedCommandRunner(runner,
        (verb, duration, outcome) -> seen.add(verb + "=" + outcome));
    observed.run(Command.of(TEN_SECONDS, "true"));
    observed.run(Command.of(TEN_SECONDS, "false"));
    assertThrows(StorageException.class,
        () -> observed.run(Command.of(Duration.ofMillis(100), "sleep", "5")));
    assertEquals(List.of("true=ok", "false=failed", "sleep=unavailable"), seen);
  }
}
