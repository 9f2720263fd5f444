package io.csi.pvestorage.app;

import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.metrics.OrphanMetrics;
import io.csi.pvestorage.reconcile.ClusterObjects;
import io.csi.pvestorage.reconcile.ClusterView;
import io.csi.pvestorage.reconcile.KubernetesClusterView;
import io.csi.pvestorage.reconcile.KubernetesPvEvents;
import io.csi.pvestorage.reconcile.Orphan;
import io.csi.pvestorage.reconcile.OrphanKind;
import io.csi.pvestorage.reconcile.OrphanReconciler;
import io.csi.pvestorage.reconcile.OrphanReport;
import io.csi.pvestorage.storage.StoragePlugin;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The node plugin's orphan check: its API client (read-only on PVs and contents, Events on PVs),
 * the reconciler, and the thread that runs it every {@code --orphan-check-interval} ± 10 %, the
 * first time one interval after start (so a starting driver, and the tests that start one, run
 * nothing extra at once). Closing it stops the thread and the client.
 */
final class OrphanWiring implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(OrphanWiring.class.getName());

  private final OrphanReconciler reconciler;
  private final ScheduledExecutorService scheduler;
  private final Duration interval;
  private final String driverName;
  private final String node;
  // Made on first use, on the check's thread or a client's call: building a fabric8 client
  // costs start-up time the CSI socket should not wait for (as the Lease lock's).
  private KubernetesClient client;
  private KubernetesPvEvents events;

  private OrphanWiring(DriverConfig config, NodeStorages storages, InFlight inFlight) {
    this.interval = config.orphanInterval();
    this.driverName = config.driverName();
    this.node = storages.nodeId();
    this.reconciler = new OrphanReconciler(storages, inFlight,
        this::readCluster,
        this::recordVolumeMissing,
        new OrphanReconciler.Settings(config.orphanGrace(), config.orphanCleanup()));
    this.scheduler = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("orphan-check").factory());
  }

  static OrphanWiring start(DriverConfig config, NodeStorages storages, InFlight inFlight) {
    OrphanWiring wiring = new OrphanWiring(config, storages, inFlight);
    wiring.scheduleNext();
    LOG.log(Level.INFO, "orphan check every " + config.orphanInterval().toSeconds() + " s, grace "
        + config.orphanGrace().toSeconds() + " s, clean-up "
        + (config.orphanCleanup() ? "ON: volumes without PV and snapshots without content "
            + "are deleted after the grace period" : "off"));
    return wiring;
  }

  private ClusterObjects readCluster() {
    KubernetesClient api;
    try {
      api = client();
    } catch (RuntimeException e) {
      throw new ClusterView.ClusterReadException("cannot build the API client: " + e, e);
    }
    return new KubernetesClusterView(api, driverName).read();
  }

  private void recordVolumeMissing(ClusterObjects.Pv pv, String message) {
    try {
      events().volumeMissing(pv, message);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "cannot record an Event on PersistentVolume " + pv.name() + ": "
          + e);
    }
  }

  private synchronized KubernetesClient client() {
    if (client == null) {
      client = StorageWiring.kubernetesClient();
    }
    return client;
  }

  private synchronized KubernetesPvEvents events() {
    if (events == null) {
      events = new KubernetesPvEvents(client(), driverName + "/node", node, Clock.systemUTC());
    }
    return events;
  }

  OrphanReconciler reconciler() {
    return reconciler;
  }

  private void scheduleNext() {
    long nanos = interval.toNanos();
    long jittered = nanos - nanos / 10 + ThreadLocalRandom.current().nextLong(nanos / 5 + 1);
    try {
      scheduler.schedule(this::pass, jittered, TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // stopping
    }
  }

  private void pass() {
    try {
      log(reconciler.reconcile(true));
    } catch (RuntimeException e) {
      LOG.log(Level.ERROR, "orphan check failed: " + e, e);
    } finally {
      scheduleNext();
    }
  }

  /** One line per storage with orphans: a WARNING when any is a fault (kinds a to c). */
  private static void log(OrphanReport report) {
    for (OrphanReport.StorageResult s : report.storages()) {
      if (s.orphans().isEmpty()) {
        continue;
      }
      Map<OrphanKind, Long> counts = s.orphans().stream().collect(
          Collectors.groupingBy(Orphan::kind, TreeMap::new, Collectors.counting()));
      boolean faults = counts.keySet().stream().anyMatch(k -> k != OrphanKind.HIDDEN_VOLUME);
      LOG.log(faults ? Level.WARNING : Level.INFO, "orphan check of storage " + s.storage()
          + ": " + counts.entrySet().stream().map(e -> e.getValue() + " " + e.getKey().label())
              .collect(Collectors.joining(", "))
          + (s.cleaned().isEmpty() ? "" : "; deleted " + s.cleaned().size())
          + " (client orphans lists them)");
    }
  }

  /** The orphan meters for these storages, reading the reconciler's last complete results. */
  OrphanMetrics bindMetrics(io.micrometer.core.instrument.MeterRegistry registry,
      List<StoragePlugin> pools) {
    List<String> kinds = Arrays.stream(OrphanKind.values()).map(OrphanKind::label).toList();
    return OrphanMetrics.bind(registry, pools.stream().map(StoragePlugin::storeId).toList(),
        kinds, new MetricsSource(reconciler));
  }

  @Override
  public synchronized void close() {
    scheduler.shutdownNow();
    if (client != null) {
      client.close();
    }
  }

  /** The meters' view of the reconciler: orphans still there after the last complete pass. */
  record MetricsSource(OrphanReconciler reconciler) implements OrphanMetrics.Source {

    @Override
    public double count(String storage, String kind) {
      return remaining(storage, kind).size();
    }

    @Override
    public double bytes(String storage, String kind) {
      return remaining(storage, kind).stream().mapToLong(Orphan::sizeBytes).sum();
    }

    @Override
    public double lastCheckSeconds(String storage) {
      return reconciler.lastComplete(storage).map(c -> c.at().toEpochMilli() / 1000.0)
          .orElse(Double.NaN);
    }

    @Override
    public double failures(String storage, String source) {
      return reconciler.counters().failures(storage, source);
    }

    @Override
    public double cleanups(String storage, String kind) {
      return reconciler.counters().cleanups(storage, OrphanKind.valueOf(
          kind.toUpperCase(java.util.Locale.ROOT).replace('-', '_')));
    }

    private List<Orphan> remaining(String storage, String kind) {
      return reconciler.lastComplete(storage).map(c -> c.result().orphans().stream()
              .filter(o -> o.kind().label().equals(kind))
              .filter(o -> !c.result().cleaned().contains(o)).toList())
          .orElse(List.of());
    }
  }
}
