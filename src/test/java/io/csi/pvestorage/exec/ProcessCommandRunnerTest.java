package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local process runner against real programs of this machine (coreutils). Slow storage
 * tools are {@code sleep} under the tool's name (a symbolic link), so the kill policy sees the
 * tool and a real process runs for a known time.
 */
class ProcessCommandRunnerTest {

  private static final Duration TEN_SECONDS = Duration.ofSeconds(10);
  private final ProcessCommandRunner runner = ProcessCommandRunner.local();

  /** Symbolic links named like storage tools that run {@code sleep}. */
  @TempDir Path tools;

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

  /**
   * Issue 18: a secret reaches the child on stdin only (byte-exact, then end of file), a child
   * that never reads it neither blocks nor fails the run, and neither the command's printed
   * form nor its result shows it; without a secret stdin is /dev/null.
   */
  @Test
  void aSecretGoesToStdinOnlyAndIsNeverPrinted() {
    byte[] key = "pass phrase\nwith\u00e9 bytes".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Command cat = Command.of(TEN_SECONDS, "cat").withStdin(Secret.of(key));
    CommandResult result = runner.run(cat);
    assertArrayEquals(key, result.stdout());
    String printed = cat + " " + cat.display() + " " + result.command();
    assertTrue(!printed.contains("pass phrase") && printed.contains("<secret>"), printed);
    assertEquals(0, runner.run(Command.of(TEN_SECONDS, "true").withStdin(Secret.of(key)))
        .exitCode());
    assertEquals("", runner.run(Command.of(TEN_SECONDS, "cat")).stdoutText());
  }

  @Test
  void thePrefixGoesInFrontButTheResultNamesTheCommand() {
    ProcessCommandRunner prefixed = new ProcessCommandRunner(List.of("env", "X_PREFIX=on"), 1 << 20);
    CommandResult result = prefixed.run(Command.of(TEN_SECONDS, "printenv", "X_PREFIX"));
    assertEquals("on\n", result.stdoutText());
    assertEquals(List.of("printenv", "X_PREFIX"), result.command().argv());
  }

  @Test
  void aTimeoutKillsAReadOnlyCommandAndIsUnavailable() throws Exception {
    Path lvs = SlowTools.link(tools, "lvs");
    long start = System.nanoTime();
    StorageException e = assertThrows(StorageException.class,
        () -> runner.run(Command.of(Duration.ofMillis(300), lvs.toString(), "30")));
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertEquals("lvs timed out after 300 ms", e.getMessage());
    assertTrue(tookMs < 5_000, "killed promptly, took " + tookMs + " ms");
  }

  @Test
  void anInterruptedCallerKillsAReadOnlyCommandAndIsAborted() throws Exception {
    Path findmnt = SlowTools.link(tools, "findmnt");
    long start = System.nanoTime();
    StorageException e = interruptAfter(Duration.ofMillis(300),
        () -> runner.run(Command.of(Duration.ofSeconds(30), findmnt.toString(), "30")));
    assertEquals(ErrorKind.ABORTED, e.kind());
    assertEquals("findmnt was cancelled", e.getMessage());
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "killed promptly");
  }

  @Test
  void aCommandThatChangesStorageOutlivesItsTimeoutAndIsReportedAsStalled() throws Exception {
    Path lvcreate = SlowTools.link(tools, "lvcreate");
    RunningCommands running = new RunningCommands();
    List<String> stalls = new CopyOnWriteArrayList<>();
    running.onStall((scope, message) -> stalls.add(scope + ": " + message));
    ProcessCommandRunner storage = new ProcessCommandRunner(List.of(), 1 << 20, running,
        "local-lvm");
    CompletableFuture<CommandResult> result = CompletableFuture.supplyAsync(() ->
        storage.run(Command.of(Duration.ofMillis(300), lvcreate.toString(), "1.5")));

    awaitTrue(() -> running.stall("local-lvm").isPresent(), "stalled past 300 ms");
    assertTrue(running.oldest("local-lvm").compareTo(Duration.ofMillis(300)) > 0);
    assertEquals(1, running.count("local-lvm"));
    assertTrue(running.anyStall().orElseThrow().matches("lvcreate \\(pid \\d+\\) has been "
        + "running for \\d+ ms on storage local-lvm, longer than the 300 ms it should take; it "
        + "changes storage, so it is never killed: .*"), running.anyStall().orElseThrow());
    CommandResult done = result.get(10, TimeUnit.SECONDS);
    assertEquals(0, done.exitCode(), "ran to its end, not killed");
    assertTrue(done.duration().compareTo(Duration.ofMillis(1500)) >= 0, done.duration().toString());
    // Reported when the waiting thread's clock passes 300, 600, 1200 ms (then 2400): the third
    // only if the thread began waiting less than 300 ms after the process started.
    assertTrue(stalls.size() == 2 || stalls.size() == 3, stalls.toString());
    for (int i = 0; i < stalls.size(); i++) {
      assertTrue(stalls.get(i).startsWith("local-lvm: lvcreate (pid "), stalls.toString());
      java.util.regex.Matcher age = java.util.regex.Pattern.compile("running for (\\d+) ms")
          .matcher(stalls.get(i));
      assertTrue(age.find() && Long.parseLong(age.group(1)) >= 300L << i, stalls.toString());
    }
    assertEquals(Optional.empty(), running.stall("local-lvm"));
    assertEquals(Duration.ZERO, running.oldest("local-lvm"));
  }

  @Test
  void anInterruptNeverKillsACommandThatChangesStorage() throws Exception {
    Path lvremove = SlowTools.link(tools, "lvremove");
    AtomicBoolean flagAfter = new AtomicBoolean();
    long start = System.nanoTime();
    CompletableFuture<CommandResult> result = new CompletableFuture<>();
    Thread worker = Thread.ofPlatform().start(() -> {
      try {
        result.complete(runner.run(Command.of(Duration.ofSeconds(30), lvremove.toString(), "1")));
        flagAfter.set(Thread.currentThread().isInterrupted());
      } catch (RuntimeException e) {
        result.completeExceptionally(e);
      }
    });
    Thread.sleep(200);
    worker.interrupt();
    CommandResult done = result.get(10, TimeUnit.SECONDS);
    worker.join(5_000);
    assertEquals(0, done.exitCode(), "sleep 1 ended by itself: " + done.stderrText());
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(1000),
        "the caller waited for the end");
    assertTrue(flagAfter.get(), "the interrupt is set again once the command has ended");
  }

  @Test
  void anInterruptedThreadStartsNoCommand() {
    Thread.currentThread().interrupt();
    try {
      StorageException e = assertThrows(StorageException.class,
          () -> runner.run(Command.of(TEN_SECONDS, "touch", tools.resolve("made").toString())));
      assertEquals(ErrorKind.ABORTED, e.kind());
      assertEquals("the call was cancelled before touch started", e.getMessage());
    } finally {
      Thread.interrupted();
    }
    assertFalse(java.nio.file.Files.exists(tools.resolve("made")), "touch never ran");
  }

  @Test
  void theLaunchGuardIsHeldUntilTheProcessCarriesItsEnvironment() {
    ProcessTable table = ProcessTable.system();
    String marker = "launch-" + System.nanoTime();
    List<String> seen = new ArrayList<>();
    LaunchGuard guard = () -> {
      seen.add("enter: " + table.withEnvironment("PVE_CSI_TEST", marker).size());
      return () -> seen.add("release: " + table.withEnvironment("PVE_CSI_TEST", marker).size());
    };
    runner.run(new Command(List.of("sleep", "0.3"), TEN_SECONDS, Map.of("PVE_CSI_TEST", marker)),
        guard);
    assertEquals(List.of("enter: 0", "release: 1"), seen);
  }

  @Test
  void aRefusingGuardStartsNothing() {
    LaunchGuard refuse = () -> {
      throw new StorageException(ErrorKind.UNAVAILABLE, "the lease may have expired");
    };
    StorageException e = assertThrows(StorageException.class, () -> runner.run(
        Command.of(TEN_SECONDS, "touch", tools.resolve("made").toString()), refuse));
    assertEquals("the lease may have expired", e.getMessage());
    assertFalse(java.nio.file.Files.exists(tools.resolve("made")));
  }

  /** Interrupts the thread running {@code action} after {@code delay}; returns its failure. */
  private static StorageException interruptAfter(Duration delay, Runnable action)
      throws Exception {
    AtomicReference<Thread> worker = new AtomicReference<>();
    CompletableFuture<StorageException> failure = CompletableFuture.supplyAsync(() -> {
      worker.set(Thread.currentThread());
      try {
        action.run();
        return null;
      } catch (StorageException e) {
        return e;
      }
    });
    while (worker.get() == null) {
      Thread.onSpinWait();
    }
    Thread.sleep(delay.toMillis());
    worker.get().interrupt();
    return failure.get(5, TimeUnit.SECONDS);
  }

  private static void awaitTrue(java.util.function.BooleanSupplier condition, String what)
      throws InterruptedException {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < until, "timed out waiting: " + what);
      Thread.sleep(20);
    }
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
  void anObserverSeesEveryOutcome() throws Exception {
    List<String> seen = new java.util.ArrayList<>();
    ObservedCommandRunner observed = new ObservedCommandRunner(runner,
        (verb, duration, outcome) -> seen.add(verb + "=" + outcome));
    observed.run(Command.of(TEN_SECONDS, "true"));
    observed.run(Command.of(TEN_SECONDS, "false"));
    Path vgs = SlowTools.link(tools, "vgs");
    assertThrows(StorageException.class,
        () -> observed.run(Command.of(Duration.ofMillis(100), vgs.toString(), "5")));
    assertEquals(List.of("true=ok", "false=failed", "vgs=unavailable"), seen);
  }
}
