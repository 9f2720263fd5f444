package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The crash suite's fault point, with a scripted runner and a halt that throws instead of
 * ending the JVM: it fires exactly at the armed step of the armed method, once.
 */
class FaultPointTest {

  private static final Duration T = Duration.ofSeconds(5);

  /** Stands for the process's death: nothing after the halt may run. */
  private static final class Halted extends Error {}

  @TempDir Path dir;
  private final AtomicInteger halts = new AtomicInteger();
  private FaultPoint point;
  private FakeCommandRunner fake;
  private CommandRunner runner;

  @BeforeEach
  void setUp() {
    point = new FaultPoint(dir, () -> {
      halts.incrementAndGet();
      throw new Halted();
    });
    fake = new FakeCommandRunner();
    runner = point.wrap(fake);
  }

  private void arm(String plan) throws Exception {
    Files.writeString(dir.resolve(FaultPoint.ARM_FILE), plan + "\n");
  }

  private String read(String name) throws Exception {
    return Files.readString(dir.resolve(name), StandardCharsets.UTF_8);
  }

  /** A CreateVolume-like call: a listing, a create, a change. */
  private void threeCommands() {
    runner.run(Command.of(T, "lvs", "pve"));
    runner.run(Command.of(T, "lvcreate", "-n", "vm-0-disk-1"));
    runner.run(Command.of(T, "lvchange", "-an", "pve/vm-0-disk-1"));
  }

  private void scriptThree() {
    fake.expect("lvs", "pve").thenSucceed("")
        .expect("lvcreate", "-n", "vm-0-disk-1").thenSucceed()
        .expect("lvchange", "-an", "pve/vm-0-disk-1").thenSucceed();
  }

  @Test
  void countRunsTheWholeCallAndWritesItsCommandsInOrder() throws Exception {
    scriptThree();
    arm("CreateVolume count 0");
    point.runCall("CreateVolume", this::threeCommands);
    assertEquals("1 lvs reads\n2 lvcreate changes\n3 lvchange changes\n", read(FaultPoint.COUNTED_FILE));
    assertEquals(0, halts.get());
    assertFalse(Files.exists(dir.resolve(FaultPoint.ARM_FILE)), "the plan is taken");
    fake.verifyAllConsumed();
  }

  @Test
  void beforeTheNthCommandDiesWithoutRunningIt() throws Exception {
    fake.expect("lvs", "pve").thenSucceed("");
    arm("CreateVolume before 2");
    assertThrows(Halted.class, () -> point.runCall("CreateVolume", this::threeCommands));
    assertEquals(1, halts.get());
    assertEquals(List.of(List.of("lvs", "pve")),
        fake.commands().stream().map(Command::argv).toList(), "lvcreate never started");
    assertEquals("before 2 lvcreate\n", read(FaultPoint.HALTED_FILE));
  }

  @Test
  void afterTheNthCommandDiesOnceItHasRun() throws Exception {
    fake.expect("lvs", "pve").thenSucceed("")
        .expect("lvcreate", "-n", "vm-0-disk-1").thenSucceed();
    arm("CreateVolume after 2");
    assertThrows(Halted.class, () -> point.runCall("CreateVolume", this::threeCommands));
    fake.verifyAllConsumed();
    assertEquals(2, fake.commands().size(), "lvcreate ran, lvchange did not");
    assertEquals("after 2 lvcreate\n", read(FaultPoint.HALTED_FILE));
  }

  @Test
  void anotherMethodNeitherCountsNorTakesThePlan() throws Exception {
    scriptThree();
    scriptThree();
    arm("CreateVolume before 1");
    point.runCall("DeleteVolume", this::threeCommands);
    assertEquals(0, halts.get());
    assertTrue(Files.exists(dir.resolve(FaultPoint.ARM_FILE)), "still armed for CreateVolume");
    assertThrows(Halted.class, () -> point.runCall("CreateVolume", this::threeCommands));
    assertEquals(1, halts.get());
  }

  @Test
  void aPlanFiresOnceAndCommandsOutsideTheCallNeverCount() throws Exception {
    scriptThree();
    scriptThree();
    arm("CreateVolume count 0");
    point.runCall("CreateVolume", this::threeCommands);
    // The next call of the same method is not armed any more: a restarted driver's retry runs.
    point.runCall("CreateVolume", this::threeCommands);
    assertEquals("1 lvs reads\n2 lvcreate changes\n3 lvchange changes\n", read(FaultPoint.COUNTED_FILE));

    fake.expect("zfs", "list").thenSucceed("");
    fake.expect("lvs", "pve").thenSucceed("");
    arm("CreateVolume before 1");
    point.runCall("CreateVolume", () -> {
      // A pool gauge refresh on another thread runs while the armed call is in flight.
      Thread other = Thread.ofPlatform().start(() -> runner.run(Command.of(T, "zfs", "list")));
      try {
        other.join();
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
      assertEquals(0, halts.get(), "another thread's command is not the call's first");
      assertThrows(Halted.class, () -> runner.run(Command.of(T, "lvs", "pve")));
    });
    assertEquals(1, halts.get());
  }

  @Test
  void plansAreParsedStrictly() {
    assertEquals(new FaultPoint.Plan("NodeStageVolume", FaultPoint.Moment.AFTER, 4),
        FaultPoint.Plan.parse("NodeStageVolume after 4\n"));
    assertEquals("NodeStageVolume after 4",
        FaultPoint.Plan.parse("NodeStageVolume after 4").text());
    for (String bad : List.of("", "CreateVolume", "CreateVolume during 2", "CreateVolume before x",
        "CreateVolume before 0", "../etc before 1", "CreateVolume before 1 extra")) {
      assertThrows(IllegalArgumentException.class, () -> FaultPoint.Plan.parse(bad), bad);
    }
  }
}
