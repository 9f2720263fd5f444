package io.csi.pvestorage.storage;

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
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
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
 * One driver process of {@link LeaseTakeoverProcessTest}: the production lock and command
 * runners (Lease lock, launch gate, process table, process runner) holding storage
 * "local-lvm" of node "node1" and running slow commands under it.
 *
 * <p>Arguments: API server URL, holder identity, gate directory, path of the slow command (a
 * {@code sleep} named lvcreate), its seconds, how many commands to run, and how often to take
 * the lock again after being fenced (as a CSI sidecar retries the call: on a machine loaded
 * enough, an acquisition can take longer than the Lease's validity, and the holder is then
 * rightly fenced before its first command). Prints one line per step ({@code LOCKED}, {@code
 * RUN i}, {@code DONE i}, {@code FENCED i}) with the holder and the time; waits for a line on
 * stdin before it takes the lock and for another before its first command.
 */
public final class LockHolderProcess {

  private LockHolderProcess() {}

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String holder = args[1];
    Path gates = Path.of(args[2]);
    String tool = args[3];
    String seconds = args[4];
    int commands = Integer.parseInt(args[5]);
    int retries = Integer.parseInt(args[6]);
    Clock clock = Clock.systemUTC();
    KubernetesClient client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
        .withMasterUrl(url).withTrustCerts(true).withRequestTimeout(2_000)
        .withConnectionTimeout(2_000).withRequestRetryBackoffLimit(0).build()).build();
    ScheduledExecutorService renewals = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("lease-renewal").factory());
    LeaseLockSettings settings = new LeaseLockSettings("csi", "node1", holder,
        Duration.ofSeconds(10), Duration.ofSeconds(2), Duration.ofSeconds(3),
        Duration.ofMillis(20), Duration.ofMillis(250), Duration.ZERO);
    LeaseStorageLock lock = new LeaseStorageLock(client, settings, Optional.empty(), renewals,
        clock, new SplittableRandom(), Sleeper.SYSTEM, LockObserver.NONE);
    FencedCommandRunner runner = new FencedCommandRunner(
        new ProcessCommandRunner(List.of(), 1 << 20, new RunningCommands(), "local-lvm"),
        lock, "local-lvm", new FencedCommandRunner.Takeover(
            PveFlock.launchGate(gates, clock, new SplittableRandom(), Sleeper.SYSTEM),
            ProcessTable.system(), Duration.ofSeconds(60), clock));
    Command command = Command.of(Duration.ofSeconds(60), tool, seconds);

    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in));
    stdin.readLine();
    int done = 0;
    for (int attempt = 0; attempt <= retries && done < commands; attempt++) {
      say("ACQUIRING", holder);
      try (LockHandle handle = lock.acquire("local-lvm", Operation.of("alloc", "", clock),
          clock.instant().plusSeconds(120))) {
        say("LOCKED", holder);
        if (attempt == 0) {
          stdin.readLine();
        }
        while (done < commands) {
          say("RUN " + done, holder);
          try {
            CommandResult result = runner.run(command);
            say("DONE " + done + " exit " + result.exitCode(), holder);
            done++;
          } catch (StorageException e) {
            say("FENCED " + done + " " + e.kind() + ": " + e.getMessage(), holder);
            break;
          }
        }
      }
    }
    lock.close();
    renewals.shutdownNow();
    client.close();
    say("EXIT", holder);
  }

  private static void say(String what, String holder) {
    System.out.println(what + " | " + holder + " | " + Instant.now());
    System.out.flush();
  }
}
