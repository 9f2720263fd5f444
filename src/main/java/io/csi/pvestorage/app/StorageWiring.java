package io.csi.pvestorage.app;

import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.CommandSlots;
import io.csi.pvestorage.exec.LimitedCommandRunner;
import io.csi.pvestorage.exec.ObservedCommandRunner;
import io.csi.pvestorage.exec.ProcessCommandRunner;
import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.exec.RunningCommands;
import io.csi.pvestorage.lock.LeaseLockSettings;
import io.csi.pvestorage.lock.LeaseStorageLock;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.lock.StorageStalls;
import io.csi.pvestorage.storage.FencedCommandRunner;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.lang.System.Logger.Level;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.UnaryOperator;
import java.util.random.RandomGenerator;

/**
 * The storage half of the object graph, built by hand: the command runners, the storage lock,
 * and one plugin per storage of this node. Closing it stops the lock and its renewals. The lock
 * is built in the background ({@link PendingStorageLock}) so that the CSI socket is up at once.
 *
 * <p>A storage's commands pass, outermost first: fencing and the takeover wait ({@link
 * FencedCommandRunner}), a command slot of the storage and of the process ({@link
 * LimitedCommandRunner}), metrics, and the process runner recording them in {@link
 * RunningCommands} under the storage's ID. Node-side commands (mount, mkfs) take a slot of the
 * node's scope and are not fenced. A stalled command of a storage makes its lock refuse new
 * callers ({@link StorageStalls}).
 */
final class StorageWiring implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(StorageWiring.class.getName());

  /** The most output kept of one command (a listing of thousands of volumes fits easily). */
  private static final int MAX_COMMAND_OUTPUT = 64 << 20;

  private final NodeStorages storages;
  private final PendingStorageLock lock;
  private final ScheduledExecutorService renewals;
  private final List<KubernetesClient> client;
  private final CommandRunner commands;
  private final RunningCommands running;

  private StorageWiring(NodeStorages storages, PendingStorageLock lock,
      ScheduledExecutorService renewals, List<KubernetesClient> client,
      CommandRunner commands, RunningCommands running) {
    this.storages = storages;
    this.lock = lock;
    this.renewals = renewals;
    this.client = client;
    this.commands = commands;
    this.running = running;
  }

  /**
   * Builds the storage side for the storages of this node.
   *
   * <p>A Lease lock whose RBAC check finds a verb denied fails {@link #lockReady()} with
   * PRECONDITION.
   */
  /**
   * The randomness of this process's lock: the holder identity's suffix and the back-off's
   * jitter. Drawn on other threads (the lock is built on "storage-lock-start", renewals on
   * their own), so it must be a generator any thread may use: a {@code ThreadLocalRandom}
   * captured here and used there draws from that thread's seed, which is the same fixed value in
   * every process for a thread that never called {@code current()} itself. That gave every
   * driver process the same holder identity (found by the crash suite: a restarted driver took
   * its dead predecessor's Lease for its own, which also stops it waiting for that holder's
   * commands) and every process the same jitter.
   */
  static RandomGenerator processRandom() {
    return new SecureRandom();
  }

  static StorageWiring build(DriverConfig config, List<StorageDefinition> definitions,
      MetricsObserver observer) {
    return build(config, definitions, observer, UnaryOperator.identity());
  }

  /**
   * As {@link #build(DriverConfig, List, MetricsObserver)}, with {@code around} wrapped around
   * each process runner, inside the slots, metrics and fencing: the crash suite's fault point
   * ({@link io.csi.pvestorage.exec.FaultPoint}) sits right at the process start.
   */
  static StorageWiring build(DriverConfig config, List<StorageDefinition> definitions,
      MetricsObserver observer, UnaryOperator<CommandRunner> around) {
    Clock clock = Clock.systemUTC();
    RandomGenerator random = processRandom();
    String node = config.nodeId().orElseThrow();
    Optional<PveFlock> pveFlock = config.pveLock()
        ? Optional.of(new PveFlock(PveFlock.PVE_LOCK_DIRECTORY, clock, random, Sleeper.SYSTEM))
        : Optional.empty();
    RunningCommands running = new RunningCommands();
    StorageStalls stalls = stallsOf(running);
    ScheduledExecutorService renewals = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("lease-renewal").daemon().factory());
    List<KubernetesClient> client = new java.util.concurrent.CopyOnWriteArrayList<>();
    PendingStorageLock lock = new PendingStorageLock(() -> switch (config.lockMode()) {
      case LEASE -> {
        KubernetesClient kubernetes = kubernetesClient();
        client.add(kubernetes);
        LeaseLockSettings defaults = LeaseLockSettings.defaults(config.leaseNamespace(), node,
            LeaseLockSettings.holderIdentity(config.podName(), random));
        Duration batch = min(defaults.maxBatchHold(), config.leaseDuration().dividedBy(3));
        LeaseLockSettings settings = new LeaseLockSettings(defaults.namespace(),
            defaults.nodeName(), defaults.holderIdentity(), config.leaseDuration(),
            min(defaults.renewInterval(), config.leaseDuration().dividedBy(3)),
            batch,
            defaults.retryMin(),
            min(defaults.retryMax(), config.leaseDuration().dividedBy(3)),
            // A linger takes at most half of a batch, so a burst still gets most of it.
            min(config.lockLinger(), batch.dividedBy(2)));
        LeaseStorageLock lease = new LeaseStorageLock(kubernetes, settings, pveFlock, renewals,
            clock, random, Sleeper.SYSTEM, observer, stalls);
        checkAccess(lease);
        yield lease;
      }
      // Without PVE's lock the flock files live in --lock-dir, which the chart mounts from the
      // host: the container's root is read-only, and other processes must see the same files.
      case LOCAL -> new LocalStorageLock(pveFlock.orElseGet(() -> new PveFlock(
          config.lockDir(), clock, random, Sleeper.SYSTEM)), clock, observer,
          LeaseLockSettings.holderIdentity(config.podName(), random), stalls);
    }, clock);
    CommandSlots slots = new CommandSlots(config.maxCommands(), config.maxCommandsPerStorage(),
        config.commandWait());
    FencedCommandRunner.Takeover takeover = new FencedCommandRunner.Takeover(
        PveFlock.launchGate(config.lockDir(), clock, random, Sleeper.SYSTEM),
        ProcessTable.system(), config.lockWait(), clock);
    CommandRunner commands = limitedRunner(config, observer, running, slots, RunningCommands.NODE,
        around);
    List<StoragePlugin> plugins = new ArrayList<>();
    for (StorageDefinition definition : definitions) {
      CommandRunner fenced = new FencedCommandRunner(
          limitedRunner(config, observer, running, slots, definition.storeId(), around), lock,
          definition.storeId(), takeover);
      plugins.add(switch (definition) {
        case LvmThinStorage lvm -> new LvmThinPlugin(lvm, fenced);
        case ZfsPoolStorage zfs -> new ZfsPoolPlugin(zfs, fenced);
      });
    }
    NodeStorages storages = new NodeStorages(node, plugins, lock, config.lockWait(), clock);
    return new StorageWiring(storages, lock, renewals, client, commands, running);
  }

  /** The runner of one scope: a slot, metrics, the process recorded under the scope. */
  private static CommandRunner limitedRunner(DriverConfig config, MetricsObserver observer,
      RunningCommands running, CommandSlots slots, String scope,
      UnaryOperator<CommandRunner> around) {
    return new LimitedCommandRunner(new ObservedCommandRunner(around.apply(new ProcessCommandRunner(
        config.commandPrefix(), MAX_COMMAND_OUTPUT, running, scope)), observer), slots, scope);
  }

  /** The storages' stall check for the lock, read from the running commands. */
  private static StorageStalls stallsOf(RunningCommands running) {
    return new StorageStalls() {
      @Override
      public Optional<String> stalled(String storeid) {
        return running.stall(storeid);
      }

      @Override
      public void onStall(java.util.function.Consumer<String> listener) {
        running.onStall((scope, message) -> {
          if (!scope.equals(RunningCommands.NODE)) {
            listener.accept(scope);
          }
        });
      }
    };
  }

  private static java.time.Duration min(java.time.Duration a, java.time.Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /**
   * Missing RBAC is a deployment error and stops the start; an API server that cannot be
   * reached now may come back, so that only warns (lock attempts fail UNAVAILABLE until then).
   */
  private static void checkAccess(LeaseStorageLock lease) {
    try {
      lease.checkAccess();
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.UNAVAILABLE) {
        throw e;
      }
      LOG.log(Level.WARNING, "cannot check Lease permissions now: " + e.getMessage());
    }
  }

  /**
   * A client from the usual sources (in-cluster service account, KUBECONFIG,
   * KUBERNETES_MASTER), with short timeouts and no retries of its own: the lock has its own
   * deadlines and back-off.
   */
  static KubernetesClient kubernetesClient() {
    Config config = new ConfigBuilder(Config.autoConfigure(null))
        .withConnectionTimeout(5_000)
        .withRequestTimeout(5_000)
        .withRequestRetryBackoffLimit(0)
        .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  /**
   * Completes when the storage lock is ready (the Lease lock has its client and passed the RBAC
   * check), exceptionally with the reason when it cannot start.
   */
  java.util.concurrent.CompletableFuture<?> lockReady() {
    return lock.ready();
  }

  NodeStorages storages() {
    return storages;
  }

  /** The command runner without fencing, for node-side commands (mount, mkfs) that take no lock. */
  CommandRunner commands() {
    return commands;
  }

  /** The commands running now, of every storage and of the node. */
  RunningCommands running() {
    return running;
  }

  @Override
  public void close() {
    lock.close();
    renewals.shutdownNow();
    client.forEach(KubernetesClient::close);
  }
}
