package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.csi.pvestorage.lock.LeaseLockSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/**
 * Two driver processes must never share a lock holder identity. The wiring draws it on the
 * "storage-lock-start" thread, not on the thread that built the wiring; each case here starts
 * two JVMs that do the same ({@link Draw}) and compares what they drew.
 */
class StorageWiringIdentityTest {

  /** In a new JVM: prints the identity drawn as the wiring draws it. */
  static final class Draw {
    public static void main(String[] args) throws InterruptedException {
      RandomGenerator random = args[0].equals("wiring") ? StorageWiring.processRandom()
          : ThreadLocalRandom.current();
      AtomicReference<String> identity = new AtomicReference<>();
      Thread start = Thread.ofPlatform().name("storage-lock-start").start(() ->
          identity.set(LeaseLockSettings.holderIdentity("node-plugin-x7k2p", random)));
      start.join();
      System.out.println(identity.get());
    }
  }

  private static String drawInNewProcess(String source) throws IOException, InterruptedException {
    Process java = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Draw.class.getName(), source)
        .redirectErrorStream(true).start();
    String out = new String(java.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    java.waitFor(60, TimeUnit.SECONDS);
    assertEquals(0, java.exitValue(), out);
    return out;
  }

  @Test
  void twoProcessesDrawTwoIdentities() throws IOException, InterruptedException {
    List<String> drawn = List.of(drawInNewProcess("wiring"), drawInNewProcess("wiring"));

    assertNotEquals(drawn.get(0), drawn.get(1));
  }

  /**
   * What the wiring did before (found by the crash suite: a restarted driver claimed its dead
   * predecessor's Lease as its own): a ThreadLocalRandom captured on one thread and used on
   * another draws from that other thread's seed, which starts the same in every process.
   */
  @Test
  void aThreadLocalRandomCapturedOnAnotherThreadDrawsTheSameInEveryProcess()
      throws IOException, InterruptedException {
    assertEquals(drawInNewProcess("thread-local"), drawInNewProcess("thread-local"));
  }
}
