package io.csi.pvestorage.faults;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.ProcessCommandRunner;
import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.exec.RunningCommands;
import io.csi.pvestorage.lock.LeaseLockSettings;
import io.csi.pvestorage.lock.LeaseStorageLock;
import io.csi.pvestorage.lock.LockHandle;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.FencedCommandRunner;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * One driver process of {@link LockFaultsIT}, driven line by line on stdin. It has the driver's
 * production lock stack with the production settings ({@link LeaseLockSettings#defaults}: 15 s
 * Lease, renewed every 5 s, back-off 20-250 ms, 1 s linger) and a Kubernetes client configured
 * as {@code StorageWiring} configures it (5 s timeouts, no retries of its own), the launch gate,
 * the process table and the process runner. Its storage commands are {@code sleep} named
 * lvcreate, so that the test sees in /proc exactly when each runs.
 *
 * <p>Arguments: API server URL, holder identity, storage ID, gate directory, path of the slow
 * tool.
 * Commands: {@code lock <deadline seconds>}, {@code run <seconds>}, {@code unlock}, {@code
 * exit}. Each answer is one line {@code <word> <epoch ms> <detail>}: {@code LOCKED}, {@code
 * LOCK-FAILED <kind> <message>}, {@code RUN}, {@code DONE <exit code>}, {@code FENCED <kind>
 * <message>}, {@code UNLOCKED}, {@code NOT-LOCKED}.
 */
public final class LockFaultsHolder {

  static final String NAMESPACE = "csi";
  static final String NODE = "node1";

  private LockFaultsHolder() {}

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String holder = args[1];
    String storage = args[2];
    Path gates = Path.of(args[3]);
    String tool = args[4];
    Clock clock = Clock.systemUTC();
    KubernetesClient client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
        .withMasterUrl(url).withTrustCerts(true).withRequestTimeout(5_000)
        .withConnectionTimeout(5_000).withRequestRetryBackoffLimit(0).build()).build();
    ScheduledExecutorService renewals = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("lease-renewal").factory());
    LeaseStorageLock lock = new LeaseStorageLock(client,
        LeaseLockSettings.defaults(NAMESPACE, NODE, holder), Optional.empty(), renewals, clock,
        new SplittableRandom(), Sleeper.SYSTEM, LockObserver.NONE);
    FencedCommandRunner runner = new FencedCommandRunner(
        new ProcessCommandRunner(List.of(), 1 << 20, new RunningCommands(), storage),
        lock, storage, new FencedCommandRunner.Takeover(
            PveFlock.launchGate(gates, clock, new SplittableRandom(), Sleeper.SYSTEM),
            ProcessTable.system(), Duration.ofSeconds(60), clock));

    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in,
        StandardCharsets.US_ASCII));
    LockHandle handle = null;
    String line;
    while ((line = stdin.readLine()) != null) {
      String[] words = line.strip().split(" ");
      switch (words[0]) {
        case "lock" -> {
          try {
            handle = lock.acquire(storage, Operation.of("alloc", "", clock),
                clock.instant().plusSeconds(Long.parseLong(words[1])));
            say("LOCKED", "");
          } catch (StorageException e) {
            say("LOCK-FAILED", e.kind() + " " + e.getMessage());
          }
        }
        case "run" -> {
          say("RUN", "");
          try {
            CommandResult result = runner.run(Command.of(Duration.ofSeconds(120), tool, words[1]));
            say("DONE", Integer.toString(result.exitCode()));
          } catch (StorageException e) {
            say("FENCED", e.kind() + " " + e.getMessage());
          }
        }
        case "unlock" -> {
          if (handle == null) {
            say("NOT-LOCKED", "");
          } else {
            handle.close();
            handle = null;
            say("UNLOCKED", "");
          }
        }
        case "exit" -> {
          lock.close();
          renewals.shutdownNow();
          client.close();
          say("EXIT", "");
          return;
        }
        default -> say("UNKNOWN", line);
      }
    }
  }

  private static void say(String word, String detail) {
    System.out.println(word + " " + Instant.now().toEpochMilli() + " " + detail);
    System.out.flush();
  }
}
