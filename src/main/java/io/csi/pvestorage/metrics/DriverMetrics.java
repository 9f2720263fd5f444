package io.csi.pvestorage.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The driver's meters. Names follow Prometheus conventions under the prefix {@code pve_csi_};
 * labels are bounded (RPC method, gRPC code, command verb, outcome) and never name a volume or
 * claim.
 *
 * <ul>
 *   <li>{@code pve_csi_rpc_duration_seconds{method,code}}: histogram of CSI calls;
 *   <li>{@code pve_csi_storage_command_duration_seconds{verb,outcome}}: histogram of lvm, zfs and
 *       mount commands; {@code outcome} is {@code ok}, {@code failed} (non-zero exit) or the error
 *       kind when the command did not finish;
 *   <li>{@code pve_csi_storage_command_failures_total{verb}};
 *   <li>{@code pve_csi_lock_wait_seconds{storage}} and {@code pve_csi_lock_hold_seconds{storage}}:
 *       histograms of how long operations waited for and held the storage lock;
 *   <li>{@code pve_csi_lock_acquisitions_total{storage,takeover}}: Lease acquisitions, with
 *       {@code takeover="true"} when an expired holder was replaced;
 *   <li>{@code pve_csi_lock_failures_total{storage,kind}}: acquisitions that gave up and Leases
 *       that were lost, by error kind;
 *   <li>{@code pve_csi_storage_command_oldest_seconds{storage}} and {@code
 *       pve_csi_node_command_oldest_seconds}: gauges of how long the oldest running command of a
 *       storage (of the node: mount, mkfs) has been running, 0 when none runs; a command that
 *       changes storage is never killed, so a value that keeps growing is a hung command;
 *   <li>{@code pve_csi_storage_command_stalled{storage}}: 1 while a command of the storage that
 *       changes storage has run past its expected time (the storage refuses new operations);
 *   <li>{@code pve_csi_ready}: 1 while the driver takes new storage work ({@code /readyz}), 0
 *       while it starts, stops, fails its tool check or has a stalled command;
 *   <li>{@code pve_csi_build_info{version,csi_spec,mode}}: always 1, for joining the version
 *       onto other series;
 *   <li>JVM and process meters from Micrometer's binders, and the process's resident and
 *       virtual memory ({@link ProcessMemoryMetrics}).
 * </ul>
 *
 * <p>Sized for a fleet of nodes: every series carries the constant label {@code node} (set on
 * the registry, {@link #newRegistry}), and every histogram has the same {@link #BUCKETS} (14
 * bounds plus {@code +Inf}), instead of Micrometer's percentile histogram of about 70 buckets
 * per series.
 */
public final class DriverMetrics {

  static final String RPC = "pve.csi.rpc.duration";
  static final String COMMAND = "pve.csi.storage.command.duration";
  static final String COMMAND_FAILURES = "pve.csi.storage.command.failures";
  static final String LOCK_WAIT = "pve.csi.lock.wait";
  static final String LOCK_HOLD = "pve.csi.lock.hold";
  static final String LOCK_ACQUISITIONS = "pve.csi.lock.acquisitions";
  static final String LOCK_FAILURES = "pve.csi.lock.failures";
  static final String OLDEST_COMMAND = "pve.csi.storage.command.oldest";
  static final String OLDEST_NODE_COMMAND = "pve.csi.node.command.oldest";
  static final String STALLED = "pve.csi.storage.command.stalled";
  static final String READY = "pve.csi.ready";
  static final String BUILD_INFO = "pve.csi.build.info";

  /**
   * The upper bounds of every latency histogram: from 5 ms (a Probe, an lvs) through the lock
   * wait limit (60 s by default) to 5 min (mkfs of a big volume); slower lands in {@code +Inf}.
   */
  public static final List<Duration> BUCKETS = List.of(Duration.ofMillis(5),
      Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
      Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500),
      Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5),
      Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60),
      Duration.ofMinutes(5));

  private final MeterRegistry registry;

  public DriverMetrics(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  /**
   * A Prometheus registry whose every series carries {@code node}: summing or comparing nodes
   * then needs no relabelling in each scrape configuration.
   *
   * @param node the Kubernetes node this driver runs on
   */
  public static PrometheusMeterRegistry newRegistry(String node) {
    if (node == null || node.isBlank()) {
      throw new IllegalArgumentException("the node label needs a node name");
    }
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.config().commonTags("node", node);
    return registry;
  }

  /** Adds the JVM and process meters. */
  public DriverMetrics withJvmMeters() {
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    new ProcessMemoryMetrics().bindTo(registry);
    return this;
  }

  /**
   * Adds {@code pve_csi_build_info}, 1 with the build's facts as labels.
   *
   * @param mode {@code node} or {@code controller}
   */
  public DriverMetrics withBuildInfo(String version, String csiSpec, String mode) {
    Gauge.builder(BUILD_INFO, () -> 1)
        .description("always 1; the labels say which build runs")
        .tag("version", version)
        .tag("csi_spec", csiSpec)
        .tag("mode", mode)
        .register(registry);
    return this;
  }

  /** Adds {@code pve_csi_ready}: 1 while {@code ready} says the driver takes new work. */
  public DriverMetrics withReadiness(BooleanSupplier ready) {
    Gauge.builder(READY, () -> ready.getAsBoolean() ? 1 : 0)
        .description("1 while the driver takes new storage work (/readyz answers 200)")
        .register(registry);
    return this;
  }

  /**
   * Adds the gauges of running commands.
   *
   * @param storages the storage IDs of this node (a bounded label)
   * @param oldest how long the oldest command of a storage has been running; asked with the
   *     empty string for the node's own commands
   * @param stalled whether a storage has a stalled command
   */
  public DriverMetrics withCommandGauges(Collection<String> storages,
      Function<String, Duration> oldest, Predicate<String> stalled) {
    for (String storage : storages) {
      Gauge.builder(OLDEST_COMMAND, () -> seconds(oldest.apply(storage)))
          .description("how long the oldest running command of the storage has been running")
          .baseUnit("seconds")
          .tag("storage", storage)
          .register(registry);
      Gauge.builder(STALLED, () -> stalled.test(storage) ? 1 : 0)
          .description("1 while a command that changes the storage runs past its expected time")
          .tag("storage", storage)
          .register(registry);
    }
    Gauge.builder(OLDEST_NODE_COMMAND, () -> seconds(oldest.apply("")))
        .description("how long the oldest running mount, mkfs or other node command has been running")
        .baseUnit("seconds")
        .register(registry);
    return this;
  }

  private static double seconds(Duration d) {
    return d.toNanos() / 1e9;
  }

  /** One finished CSI call. */
  public void rpcFinished(String method, String code, Duration duration) {
    histogram(RPC, "CSI calls by method and gRPC status code")
        .tag("method", method)
        .tag("code", code)
        .register(registry)
        .record(duration);
  }

  /** One finished storage or node command. */
  public void commandFinished(String verb, Duration duration, String outcome) {
    histogram(COMMAND, "lvm, zfs and mount commands by verb and outcome")
        .tag("verb", verb)
        .tag("outcome", outcome)
        .register(registry)
        .record(duration);
    if (!outcome.equals("ok")) {
      Counter.builder(COMMAND_FAILURES)
          .description("commands that failed or did not finish, by verb")
          .tag("verb", verb)
          .register(registry)
          .increment();
    }
  }

  /** An operation waited this long for the storage lock of {@code storage}. */
  public void lockWaited(String storage, Duration wait) {
    histogram(LOCK_WAIT, "time operations waited for the storage lock")
        .tag("storage", storage)
        .register(registry)
        .record(wait);
  }

  /** An operation held the storage lock of {@code storage} this long. */
  public void lockHeld(String storage, Duration hold) {
    histogram(LOCK_HOLD, "time operations held the storage lock")
        .tag("storage", storage)
        .register(registry)
        .record(hold);
  }

  /** This process wrote itself into the storage's Lease. */
  public void leaseAcquired(String storage, boolean takeover) {
    Counter.builder(LOCK_ACQUISITIONS)
        .description("Lease acquisitions; takeover=true when an expired holder was replaced")
        .tag("storage", storage)
        .tag("takeover", Boolean.toString(takeover))
        .register(registry)
        .increment();
  }

  /** An acquisition gave up or a held Lease was lost, with the error kind's name. */
  public void lockFailed(String storage, String kind) {
    Counter.builder(LOCK_FAILURES)
        .description("lock acquisitions that gave up and Leases that were lost, by error kind")
        .tag("storage", storage)
        .tag("kind", kind)
        .register(registry)
        .increment();
  }

  /** Latency histograms share {@link #BUCKETS}. */
  private static Timer.Builder histogram(String name, String description) {
    return Timer.builder(name)
        .description(description)
        .serviceLevelObjectives(BUCKETS.toArray(Duration[]::new));
  }
}
