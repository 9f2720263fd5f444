package io.csi.pvestorage.app;

import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.ObservedCommandRunner;
import io.csi.pvestorage.exec.ProcessCommandRunner;
import io.csi.pvestorage.lock.LeaseLockSettings;
import io.csi.pvestorage.lock.LeaseStorageLock;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
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
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;

/**
 * The storage half of the object graph, built by hand: the command runner (prefix, metrics,
 * fencing), the storage lock, and one plugin per storage of this node. Closing it stops the lock
 * and its renewals. The lock is built in the background ({@link PendingStorageLock}) so that
 * the CSI socket is up at once.
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

  private StorageWiring(NodeStorages storages, PendingStorageLock lock,
      ScheduledExecutorService renewals, List<KubernetesClient> client,
      CommandRunner commands) {
    this.storages = storages;
    this.lock = lock;
    this.renewals = renewals;
    this.client = client;
    this.commands = commands;
  }

  /**
   * Builds the storage side for the storages of this node.
   *
   * <p>A Lease lock whose RBAC check finds a verb denied fails {@link #lockReady()} with
   * PRECONDITION.
   */
  static StorageWiring build(DriverConfig config, List<StorageDefinition> definitions,
      MetricsObserver observer) {
    Clock clock = Clock.systemUTC();
    RandomGenerator random = ThreadLocalRandom.current();
    String node = config.nodeId().orElseThrow();
    Optional<PveFlock> pveFlock = config.pveLock()
        ? Optional.of(new PveFlock(PveFlock.PVE_LOCK_DIRECTORY, clock, random, Sleeper.SYSTEM))
        : Optional.empty();
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
            clock, random, Sleeper.SYSTEM, observer);
        checkAccess(lease);
        yield lease;
      }
      case LOCAL -> new LocalStorageLock(pveFlock.orElseGet(() -> new PveFlock(
          PveFlock.PVE_LOCK_DIRECTORY, clock, random, Sleeper.SYSTEM)), clock, observer);
    }, clock);
    CommandRunner commands = new ObservedCommandRunner(
        new ProcessCommandRunner(config.commandPrefix(), MAX_COMMAND_OUTPUT), observer);
    List<StoragePlugin> plugins = new ArrayList<>();
    for (StorageDefinition definition : definitions) {
      CommandRunner fenced = new FencedCommandRunner(commands, lock, definition.storeId());
      plugins.add(switch (definition) {
        case LvmThinStorage lvm -> new LvmThinPlugin(lvm, fenced);
        case ZfsPoolStorage zfs -> new ZfsPoolPlugin(zfs, fenced);
      });
    }
    NodeStorages storages = new NodeStorages(node, plugins, lock, config.lockWait(), clock);
    return new StorageWiring(storages, lock, renewals, client, commands);
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
  private static KubernetesClient kubernetesClient() {
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

  @Override
  public void close() {
    lock.close();
    renewals.shutdownNow();
    client.forEach(KubernetesClient::close);
  }
}
