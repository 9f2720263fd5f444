package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.exec.SlowTools;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13 point 6: two driver processes (JVMs) hold storage "local-lvm" of one node through a
 * Lease on the fabric8 mock API server. Holder A starts a slow command and is frozen with
 * SIGSTOP in the middle of it (20 s long); its Lease (10 s) expires and holder B takes over. B's first command
 * must start only after A's command has ended, and A, thawed with SIGCONT, must run no further
 * command.
 *
 * <p>The commands' lifetimes are not taken from the holders' own reports (a frozen holder
 * reports late) but watched from this JVM in {@code /proc}, by the holder marker each command
 * carries in its environment, every few milliseconds.
 */
@EnableKubernetesMockClient(crud = true)
@Timeout(300)
class LeaseTakeoverProcessTest {

  /** Kept referenced: java.util.logging holds loggers weakly. */
  private final Logger quietMockServer = Logger.getLogger("io.fabric8.mockwebserver");

  {
    quietMockServer.setLevel(java.util.logging.Level.WARNING);
  }

  KubernetesMockServer server;
  KubernetesClient client;

  @TempDir Path dir;
  private final List<Process> holders = new ArrayList<>();

  @AfterEach
  void stopHolders() {
    for (Process p : holders) {
      signal("CONT", p);
      p.destroyForcibly();
    }
  }

  /** First and last time a command of each holder was seen running, by pid. */
  private record Seen(String holder, long pid, Instant first, Instant last) {}

  private Process holder(String identity, String seconds, int commands, int retries, Path out)
      throws IOException {
    List<String> argv = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"),
        LockHolderProcess.class.getName(),
        client.getConfiguration().getMasterUrl(), identity, dir.resolve("gates").toString(),
        SlowTools.link(dir, "lvcreate").toString(), seconds, Integer.toString(commands),
        Integer.toString(retries));
    Process p = new ProcessBuilder(argv).redirectOutput(out.toFile())
        .redirectError(out.resolveSibling(out.getFileName() + ".err").toFile()).start();
    holders.add(p);
    return p;
  }

  private static void awaitLine(Path out, String prefix) throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < until) {
      if (Files.exists(out) && Files.readAllLines(out).stream().anyMatch(l -> l.startsWith(prefix))) {
        return;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no '" + prefix + "' in " + out + ": "
        + (Files.exists(out) ? Files.readString(out) : "(no output)") + " / "
        + Files.readString(out.resolveSibling(out.getFileName() + ".err")));
  }

  private static void go(Process p) throws IOException {
    OutputStream in = p.getOutputStream();
    in.write("go\n".getBytes(StandardCharsets.US_ASCII));
    in.flush();
  }

  private static void signal(String name, Process p) {
    try {
      new ProcessBuilder("kill", "-" + name, Long.toString(p.pid())).start().waitFor();
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aTakeoverNeverOverlapsACommandOfTheFrozenHolder() throws Exception {
    Files.createDirectories(dir.resolve("gates"));
    Map<Long, Seen> seen = new ConcurrentHashMap<>();
    AtomicBoolean watching = new AtomicBoolean(true);
    AtomicInteger bothAtOnce = new AtomicInteger();
    Thread watcher = Thread.ofPlatform().daemon().start(() -> {
      while (watching.get()) {
        Instant now = Instant.now();
        List<ProcessTable.MarkedProcess> running = ProcessTable.system()
            .withEnvironment(FencedCommandRunner.STORAGE_VARIABLE, "local-lvm");
        if (running.stream().map(p -> p.environment().get(FencedCommandRunner.HOLDER_VARIABLE))
            .distinct().count() > 1) {
          bothAtOnce.incrementAndGet();
        }
        for (ProcessTable.MarkedProcess p : running) {
          seen.merge(p.pid(), new Seen(p.environment().get(FencedCommandRunner.HOLDER_VARIABLE),
              p.pid(), now, now), (old, fresh) -> new Seen(old.holder(), old.pid(), old.first(),
              fresh.last()));
        }
        try {
          Thread.sleep(5);
        } catch (InterruptedException e) {
          return;
        }
      }
    });

    Path outA = dir.resolve("a.out");
    Path outB = dir.resolve("b.out");
    Process a = holder("pod-a_aaaa", "20", 2, 0, outA);
    go(a);
    awaitLine(outA, "LOCKED");
    Process b = holder("pod-b_bbbb", "1", 1, 5, outB);
    go(b);
    go(b);
    awaitLine(outB, "ACQUIRING"); // and waits: A holds the Lease
    go(a);
    awaitLine(outA, "RUN 0");
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (seen.values().stream().noneMatch(s -> s.holder().equals("pod-a_aaaa"))) {
      assertTrue(System.nanoTime() < until, "A's command never appeared: "
          + Files.readString(outA) + Files.readString(dir.resolve("a.out.err")));
      Thread.sleep(5);
    }
    Thread.sleep(500);
    signal("STOP", a);
    Instant stopped = Instant.now();

    awaitLine(outB, "DONE 0");
    signal("CONT", a);
    assertTrue(a.waitFor(60, TimeUnit.SECONDS), "A ends once thawed");
    assertTrue(b.waitFor(60, TimeUnit.SECONDS));
    watching.set(false);
    watcher.join(5_000);

    String logA = Files.readString(outA);
    String logB = Files.readString(outB);
    String errB = Files.readString(dir.resolve("b.out.err"));
    List<Seen> commands = seen.values().stream()
        .sorted(java.util.Comparator.comparing(Seen::first)).toList();
    System.out.println("holder A (frozen at " + stopped + "):\n" + logA);
    System.out.println("holder B:\n" + logB);
    System.out.println("commands seen running in /proc (first and last sighting):");
    commands.forEach(c -> System.out.println("  " + c.holder() + " pid " + c.pid() + ": "
        + c.first() + " .. " + c.last()));

    List<Seen> ofA = commands.stream().filter(c -> c.holder().equals("pod-a_aaaa")).toList();
    List<Seen> ofB = commands.stream().filter(c -> c.holder().equals("pod-b_bbbb")).toList();
    assertEquals(1, ofA.size(), "A ran one command and, thawed, no further one");
    assertEquals(1, ofB.size());
    assertTrue(ofA.getFirst().last().isBefore(ofB.getFirst().first()),
        "B's command started after A's had ended: " + commands);
    assertEquals(0, bothAtOnce.get(), "never a sighting with commands of both holders");
    assertTrue(logA.contains("DONE 0 exit 0"), logA);
    assertTrue(logA.lines().anyMatch(l -> l.startsWith("FENCED 1 ")), "A is fenced: " + logA);
    assertTrue(errB.contains("commands of an earlier holder of its lock are still running: "
        + "lvcreate (pid " + ofA.getFirst().pid() + ", holder pod-a_aaaa)"),
        "B waited for A's command: " + errB);
  }
}
