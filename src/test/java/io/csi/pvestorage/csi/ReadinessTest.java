package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.ProcessCommandRunner;
import io.csi.pvestorage.exec.RunningCommands;
import io.csi.pvestorage.exec.SlowTools;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadinessTest {

  @TempDir Path tools;

  @Test
  void aStalledCommandMakesTheDriverNotReadyForWorkWhileProbeStaysReady() throws Exception {
    Readiness readiness = new Readiness();
    RunningCommands running = new RunningCommands();
    readiness.addCondition(running::anyStall);
    assertEquals(Optional.of("starting"), readiness.notReadyForWork());
    readiness.markReady();
    assertEquals(Optional.empty(), readiness.notReadyForWork());

    ProcessCommandRunner runner = new ProcessCommandRunner(List.of(), 1 << 16, running,
        "local-lvm");
    Path lvextend = SlowTools.link(tools, "lvextend");
    CompletableFuture<CommandResult> slow = CompletableFuture.supplyAsync(() ->
        runner.run(Command.of(Duration.ofMillis(200), lvextend.toString(), "1.5")));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (readiness.notReadyForWork().isEmpty()) {
      assertTrue(System.nanoTime() < until, "the stall never showed");
      Thread.sleep(20);
    }
    assertTrue(readiness.notReadyForWork().orElseThrow().startsWith("lvextend (pid "),
        readiness.notReadyForWork().toString());
    assertTrue(readiness.notReadyForWork().orElseThrow().contains(" on storage local-lvm, "));
    assertTrue(readiness.isReady(), "Probe (and so liveness) is not failed by a stall");

    assertEquals(0, slow.get(10, TimeUnit.SECONDS).exitCode());
    assertEquals(Optional.empty(), readiness.notReadyForWork(), "ready again once it ended");
    readiness.markNotReady("shutting down");
    assertEquals(Optional.of("shutting down"), readiness.notReadyForWork());
  }
}
