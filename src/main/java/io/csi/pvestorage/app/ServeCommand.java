package io.csi.pvestorage.app;

import csi.v1.PluginCapability;
import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.CapabilitiesOnly;
import io.csi.pvestorage.csi.ControllerService;
import io.csi.pvestorage.csi.IdentityService;
import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.NodeService;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.csi.Readiness;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.FaultPoint;
import io.csi.pvestorage.exec.RunningCommands;
import io.csi.pvestorage.metrics.DriverMetrics;
import io.csi.pvestorage.metrics.MetricsServer;
import io.csi.pvestorage.metrics.PoolMetrics;
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.KubeletDir;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import io.csi.pvestorage.storage.config.StorageConfig;
import io.csi.pvestorage.storage.config.StorageConfigParser;
import io.csi.pvestorage.storage.config.StorageDefinition;
import io.grpc.BindableService;
import io.grpc.ServerInterceptor;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import sun.misc.Signal;

/**
 * {@code serve}: validates the configuration, starts the CSI server, loads the storage
 * configuration (Probe answers {@code ready=false} until then), and on SIGTERM or SIGINT stops
 * gracefully and exits 0.
 *
 * <p>Stopping never cuts a storage command short: after the calls' grace period the process
 * waits, without a bound of its own, for every command that changes storage to end, since its
 * exit would make the container runtime kill them. Only the kubelet's own kill ends the wait.
 */
final class ServeCommand {

  private static final System.Logger LOG = System.getLogger(ServeCommand.class.getName());

  /** mount, umount, findmnt, blkid, stat: quick unless the host is in trouble. */
  private static final Duration NODE_COMMAND_TIMEOUT = Duration.ofSeconds(60);

  /** mkfs and filesystem growth, which scale with the device. */
  private static final Duration FILESYSTEM_TIMEOUT = Duration.ofMinutes(10);

  /** One version command of the start-up tool check (seconds in an emulated guest). */
  private static final Duration TOOL_CHECK_TIMEOUT = Duration.ofSeconds(30);

  /** The readiness condition of the tool check. */
  private static final String TOOLS = "tools";

  private ServeCommand() {}

  static int run(List<String> args, Map<String, String> env, PrintStream out, PrintStream err) {
    if (DriverConfig.wantsHelp(args)) {
      out.print("usage: pve-storage-csi serve [--flags]\n\n" + DriverConfig.help());
      return 0;
    }
    DriverConfig config = DriverConfig.fromArgs(args, env);
    Logging.configure(config.logLevel(), config.logFormat());
    BuildInfo build = BuildInfo.load();

    Readiness readiness = new Readiness();
    List<PluginCapability> capabilities = new ArrayList<>();
    List<BindableService> services = new ArrayList<>();

    CountDownLatch stop = new CountDownLatch(1);
    Signal.handle(new Signal("TERM"), signal -> stop.countDown());
    Signal.handle(new Signal("INT"), signal -> stop.countDown());

    // Meters are created after the first Probe can already be answered (they cost start-up
    // time); calls finished before that are not counted.
    MetricsObserver observer = new MetricsObserver();
    Optional<FaultPoint> faults = DriverConfig.faultInjectionDir(args, env)
        .map(dir -> new FaultPoint(dir, FaultPoint.Halt.RUNTIME));
    faults.ifPresent(point -> LOG.log(Level.WARNING, "FAULT INJECTION IS ON (--"
        + DriverConfig.FAULT_INJECTION_FLAG + "=" + point.directory() + "): this process KILLS "
        + "ITSELF when a test arms it. This is for the crash tests only; never run it in "
        + "production."));
    AtomicReference<StorageWiring> wiring = new AtomicReference<>();
    OrphanWiring orphans = null;
    if (config.mode().hasStorage()) {
      try {
        wiring.set(wireStorage(config, observer, faults));
      } catch (StorageException e) {
        LOG.log(Level.ERROR, e.getMessage());
        return 1;
      }
      readiness.addCondition(wiring.get().running()::anyStall);
      NodeStorages storages = wiring.get().storages();
      InFlight inFlight = new InFlight();
      services.add(new ControllerService(storages, inFlight, config.ownerPolicy()));
      services.add(new NodeService(storages, inFlight,
          new Mounter(wiring.get().commands(), NODE_COMMAND_TIMEOUT, FILESYSTEM_TIMEOUT),
          new KubeletDir(new HostPath(config.kubeletDir().toString())),
          config.maxVolumesPerNode()));
      if (!config.orphanInterval().isZero()) {
        orphans = OrphanWiring.start(config, storages, inFlight);
        services.add(new OrphanService(orphans.reconciler()));
      }
      capabilities.add(IdentityService.service(PluginCapability.Service.Type.CONTROLLER_SERVICE));
      capabilities.add(IdentityService.service(
          PluginCapability.Service.Type.VOLUME_ACCESSIBILITY_CONSTRAINTS));
      capabilities.add(IdentityService.expansion(PluginCapability.VolumeExpansion.Type.ONLINE));
    } else {
      // Next to csi-resizer: it reads the capabilities to learn that expansion happens on the
      // node, and nothing here touches storage.
      services.add(new CapabilitiesOnly.Controller());
      services.add(new CapabilitiesOnly.Node());
      capabilities.add(IdentityService.service(PluginCapability.Service.Type.CONTROLLER_SERVICE));
      capabilities.add(IdentityService.expansion(PluginCapability.VolumeExpansion.Type.ONLINE));
    }

    // Identity reports the capabilities of exactly the services registered above.
    services.addFirst(new IdentityService(
        config.driverName(),
        build.version(),
        Map.of("csi-spec", build.csiSpecVersion(),
            "mode", config.mode().name().toLowerCase(Locale.ROOT)),
        capabilities,
        readiness));

    CsiServer server;
    try {
      // Lenient parsing: a request that does not parse reaches the interceptor, which answers
      // INVALID_ARGUMENT instead of gRPC's UNKNOWN.
      server = CsiServer.start(config.endpoint(), config.socketMode(),
          services.stream().map(CallInterceptor::parsingLeniently).toList(),
          interceptors(observer, faults),
          new CsiServer.Limits(CsiServer.Limits.DEFAULT_MAX_MESSAGE_BYTES, config.maxCalls()));
    } catch (IOException | IllegalStateException e) {
      LOG.log(Level.ERROR, "cannot serve on " + config.endpoint() + ": " + e.getMessage());
      return 1;
    }
    LOG.log(Level.INFO, "pve-storage-csi " + build.version() + " serving CSI "
        + build.csiSpecVersion() + " on " + server.endpoint() + " as "
        + config.driverName() + " (mode " + config.mode().name().toLowerCase(Locale.ROOT) + ")");

    StorageWiring storageWiring = wiring.get();
    if (storageWiring == null) {
      readiness.markReady();
    } else {
      readiness.markNotReady("starting the storage lock");
      storageWiring.lockReady().whenComplete((lock, failure) -> {
        if (failure == null) {
          readiness.markReady();
          LOG.log(Level.INFO, "storage lock ready (" + config.lockMode().name()
              .toLowerCase(Locale.ROOT) + "); ready to serve");
        } else {
          Throwable cause = failure instanceof java.util.concurrent.CompletionException
              ? failure.getCause() : failure;
          LOG.log(Level.ERROR, "the storage lock cannot start, so storage calls fail: "
              + cause.getMessage());
          readiness.markNotReady("storage lock: " + cause.getMessage());
        }
      });
    }
    List<StoragePlugin> pools = wiring.get() == null ? List.of() : wiring.get().storages().all();
    RunningCommands running = wiring.get() == null ? new RunningCommands()
        : wiring.get().running();
    ToolCheck tools = storageWiring != null && config.checkTools()
        ? startToolCheck(config, storageWiring, pools, readiness) : null;
    List<AutoCloseable> metricsParts = new CopyOnWriteArrayList<>();
    // The meters' constant node label: the node plugin's node ID, else the pod's node.
    String node = config.nodeId().or(() -> Optional.ofNullable(env.get("NODE_NAME")))
        .or(() -> Optional.ofNullable(env.get("HOSTNAME"))).orElse("unknown");
    String mode = config.mode().name().toLowerCase(Locale.ROOT);
    OrphanWiring orphanCheck = orphans;
    config.metricsAddress().ifPresent(address -> Thread.ofVirtual().name("metrics-start").start(
        () -> startMetrics(address, readiness, observer, pools, running, config.poolRefresh(),
            tools, orphanCheck,
            new MetricsLabels(node, build, mode), metricsParts)));

    try {
      stop.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    LOG.log(Level.INFO, "stopping: letting in-flight calls finish for up to "
        + config.shutdownGrace().toMillis() + " ms");
    readiness.markNotReady("shutting down");
    server.stop(config.shutdownGrace());
    awaitChangingCommands(running);
    for (AutoCloseable part : metricsParts.reversed()) {
      try {
        part.close();
      } catch (Exception e) {
        LOG.log(Level.WARNING, "stopping metrics: " + e);
      }
    }
    if (orphans != null) {
      orphans.close();
    }
    StorageWiring storage = wiring.get();
    if (storage != null) {
      storage.close();
    }
    LOG.log(Level.INFO, "stopped");
    return 0;
  }

  /**
   * Waits until no command that changes storage runs (the calls that started them may already
   * have been cancelled), logging what still runs every ten seconds.
   */
  private static void awaitChangingCommands(RunningCommands running) {
    boolean interrupted = false;
    List<RunningCommands.Entry> left;
    while (!(left = running.changing()).isEmpty()) {
      LOG.log(Level.WARNING, "stopping: waiting for " + left.size() + " storage command(s) to"
          + " end, since a command that changes storage is never killed: " + left);
      long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < until && !running.changing().isEmpty()) {
        try {
          Thread.sleep(50);
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Checks, in the background, the tools the storages of this node will run; the driver is not
   * ready until they pass, and stays not ready, saying what to fix, when one fails.
   */
  private static ToolCheck startToolCheck(DriverConfig config, StorageWiring storage,
      List<StoragePlugin> pools, Readiness readiness) {
    Set<String> types = pools.stream().map(StoragePlugin::type).collect(Collectors.toSet());
    ToolCheck check = new ToolCheck(storage.commands(), config.commandPrefix(), types,
        TOOL_CHECK_TIMEOUT);
    if (check.tools().isEmpty()) {
      return check;
    }
    readiness.markNotReady(TOOLS, "checking the storage tools");
    Thread.ofVirtual().name("tool-check").start(() -> {
      ToolCheck.Report report = check.run();
      if (report.ok()) {
        readiness.markReady(TOOLS);
        LOG.log(Level.INFO, "storage tools checked in " + report.took().toMillis() + " ms: "
            + report.versions());
      } else {
        readiness.markNotReady(TOOLS, "storage tools: " + report.problems());
        LOG.log(Level.ERROR, "not ready until the storage tools are fixed (then restart the "
            + "driver): " + report.problems());
      }
    });
    return check;
  }

  /**
   * Creates the meters, starts the pool gauges' refresh and serves /metrics; each part that
   * started is added to {@code parts} so that shutdown closes it.
   */
  private static void startMetrics(java.net.InetSocketAddress address, Readiness readiness,
      MetricsObserver observer, List<StoragePlugin> pools, RunningCommands running,
      Duration poolRefresh, ToolCheck tools, OrphanWiring orphans, MetricsLabels labels,
      List<AutoCloseable> parts) {
    PrometheusMeterRegistry registry = DriverMetrics.newRegistry(labels.node());
    observer.attach(new DriverMetrics(registry).withJvmMeters()
        .withBuildInfo(labels.build().version(), labels.build().csiSpecVersion(), labels.mode())
        .withReadiness(() -> readiness.notReadyForWork().isEmpty())
        .withCommandGauges(pools.stream().map(StoragePlugin::storeId).toList(), running::oldest,
            storeId -> running.stall(storeId).isPresent()));
    if (tools != null) {
      tools.bindTo(registry);
    }
    if (orphans != null) {
      parts.add(orphans.bindMetrics(registry, pools));
    }
    if (!pools.isEmpty()) {
      // Its own thread: a pool read runs lvm/zfs commands that may take seconds.
      ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
          Thread.ofPlatform().daemon().name("pool-metrics").factory());
      parts.add(scheduler::shutdownNow);
      parts.add(PoolMetrics.start(registry, PoolSources.of(pools), poolRefresh, scheduler,
          Clock.systemUTC()));
    }
    try {
      MetricsServer http = MetricsServer.start(address, registry, new MetricsServer.Health() {
        @Override
        public Optional<String> unhealthy() {
          return Optional.ofNullable(readiness.reason());
        }

        @Override
        public Optional<String> unready() {
          return readiness.notReadyForWork();
        }
      });
      parts.add(http);
      LOG.log(Level.INFO, "metrics on http://" + address.getHostString() + ":" + http.port()
          + "/metrics");
    } catch (java.io.IOException | RuntimeException e) {
      LOG.log(Level.ERROR, "cannot serve metrics on " + address + ": " + e.getMessage()
          + " (CSI keeps running)");
    }
  }

  /** The constant labels of the driver's meters: its node, its build and its mode. */
  private record MetricsLabels(String node, BuildInfo build, String mode) {}

  /** Loads storage.cfg and builds the plugins of the storages this node has, and the lock. */
  private static StorageWiring wireStorage(DriverConfig config, MetricsObserver observer,
      Optional<FaultPoint> faults) {
    StorageConfig storage = loadStorageConfig(config.storageConfig().orElseThrow(),
        config.ownerPolicy());
    String node = config.nodeId().orElseThrow();
    List<StorageDefinition> usable = storage.availableOn(node);
    storage.skipped().forEach(s -> LOG.log(Level.INFO, "storage.cfg: skipping " + s
        + " (only lvmthin and zfspool are served)"));
    LOG.log(Level.INFO, "storages on node " + node + ": "
        + (usable.isEmpty() ? "none" : String.join(", ",
            usable.stream().map(s -> s.type() + ":" + s.storeId()).toList()))
        + "; lock " + config.lockMode().name().toLowerCase(Locale.ROOT));
    return StorageWiring.build(config, usable, observer,
        faults.<UnaryOperator<CommandRunner>>map(point -> point::wrap)
            .orElse(UnaryOperator.identity()));
  }

  /** The call interceptors; the fault point's goes last, so it is the first to see a call. */
  private static List<ServerInterceptor> interceptors(MetricsObserver observer,
      Optional<FaultPoint> faults) {
    List<ServerInterceptor> interceptors = new ArrayList<>(List.of(new CallInterceptor(observer)));
    faults.ifPresent(point -> interceptors.add(new FaultInjectionInterceptor(point)));
    return interceptors;
  }

  private static StorageConfig loadStorageConfig(Path path, OwnerPolicy owners) {
    String text;
    try {
      text = Files.readString(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new StorageException(io.csi.pvestorage.error.ErrorKind.INVALID,
          "--storage-config: cannot read " + path + ": " + e.getClass().getSimpleName()
              + (e.getMessage() == null ? "" : " " + e.getMessage()));
    }
    return StorageConfigParser.parse(text, path.toString(), owners);
  }
}
