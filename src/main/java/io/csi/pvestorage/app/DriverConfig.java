package io.csi.pvestorage.app;

import io.csi.pvestorage.app.Flags.Spec;
import io.csi.pvestorage.app.Flags.UsageException;
import io.csi.pvestorage.exec.FaultPoint;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import io.csi.pvestorage.node.HostPath;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Everything the {@code serve} command is configured with, built once from flags and
 * environment and validated before anything starts. A bad or missing value is a {@link
 * UsageException} whose one-line message names the flag and what it accepts.
 *
 * @param mode which services this process serves
 * @param endpoint where the CSI server listens
 * @param nodeId this node's name (topology value, lease name); required unless controller mode
 * @param storageConfig the storage.cfg to load; required unless controller mode
 * @param driverName the CSI driver name reported by GetPluginInfo
 * @param metricsAddress where /metrics and /healthz are served; empty disables them
 * @param leaseNamespace namespace of the storage-lock Leases
 * @param podName this pod's name, part of the lock holder identity
 * @param commandPrefix argv put in front of every storage and mount command
 * @param logLevel least severe level logged
 * @param logFormat text or one JSON object per line
 * @param socketMode permissions of the unix socket file
 * @param shutdownGrace how long in-flight RPCs may run after SIGTERM
 * @param lockMode Kubernetes Leases, or in-process plus file lock only
 * @param pveLock whether PVE's own storage flock is taken too
 * @param maxVolumesPerNode reported by NodeGetInfo; 0 lets the CO decide
 * @param leaseDuration how long a Lease stays valid without renewal
 * @param lockWait the longest an operation waits for the storage lock
 * @param lockLinger how long a Lease is kept after the last queued operation; 0 releases at once
 * @param poolRefresh how often the pool gauges re-read each storage
 * @param allowGuestOwners whether volume owner IDs of 100 and above (possible PVE guest IDs)
 *     are allowed ({@link OwnerPolicy})
 * @param kubeletDir the kubelet's root directory: every path a Node request names must lie
 *     below it
 * @param lockDir a host directory all driver processes of the node share: the local lock's flock
 *     files (when PVE's own lock directory is not used) and the storages' launch gates
 * @param maxCommands the most storage and node commands running at once in this process
 * @param maxCommandsPerStorage the most commands running at once for one storage (or the node)
 * @param commandWait the longest a command waits for a slot before RESOURCE_EXHAUSTED
 * @param maxCalls the most CSI calls served at once; more answer RESOURCE_EXHAUSTED
 * @param checkTools whether start-up checks the storage tools (through the prefix) before ready
 * @param orphanInterval how often the node plugin checks its storages for orphans; zero turns
 *     the check off ({@link io.csi.pvestorage.reconcile.OrphanReconciler})
 * @param orphanGrace how old a volume or snapshot must be, and how long it must have been an
 *     orphan before clean-up deletes it
 * @param orphanCleanup whether the check deletes volumes without PV and snapshots without
 *     VolumeSnapshotContent once past the grace period
 */
public record DriverConfig(
    Mode mode,
    Endpoint endpoint,
    Optional<String> nodeId,
    Optional<Path> storageConfig,
    String driverName,
    Optional<InetSocketAddress> metricsAddress,
    String leaseNamespace,
    String podName,
    List<String> commandPrefix,
    LogLevel logLevel,
    LogFormat logFormat,
    Set<PosixFilePermission> socketMode,
    Duration shutdownGrace,
    LockMode lockMode,
    boolean pveLock,
    long maxVolumesPerNode,
    Duration leaseDuration,
    Duration lockWait,
    Duration lockLinger,
    Duration poolRefresh,
    boolean allowGuestOwners,
    Path kubeletDir,
    Path lockDir,
    int maxCommands,
    int maxCommandsPerStorage,
    Duration commandWait,
    int maxCalls,
    boolean checkTools,
    Duration orphanInterval,
    Duration orphanGrace,
    boolean orphanCleanup) {

  /** Which CSI services a process serves. */
  public enum Mode {
    /** Identity, Controller and Node, with access to this node's storage (the DaemonSet). */
    NODE,
    /** Identity and the Controller's capabilities only, no storage access (next to csi-resizer). */
    CONTROLLER,
    /** Same services as {@link #NODE}; for one-process setups such as the demo. */
    ALL;

    public boolean hasStorage() {
      return this != CONTROLLER;
    }
  }

  /** How mutating storage operations are serialised across processes. */
  public enum LockMode {
    LEASE,
    LOCAL
  }

  /** Log verbosity, most severe first. */
  public enum LogLevel {
    ERROR,
    WARN,
    INFO,
    DEBUG
  }

  /** Log line format. */
  public enum LogFormat {
    TEXT,
    JSON
  }

  public static final String DEFAULT_DRIVER_NAME = "pve-storage.csi.io";

  /** The metrics port when --metrics-address is not given. */
  static final int DEFAULT_METRICS_PORT = 9600;

  private static final Pattern DRIVER_NAME =
      Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9.]{0,61}[A-Za-z0-9])?");
  private static final Pattern LABEL_VALUE =
      Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");
  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
  private static final Pattern DURATION = Pattern.compile("([0-9]+)(ms|s|m|h)?");
  private static final Pattern OCTAL_MODE = Pattern.compile("0?[0-7]{3}");
  private static final Pattern PREFIX_WORD = Pattern.compile("[^\\p{Cntrl}\\s]+");

  static final List<Spec> FLAGS = List.of(
      new Spec("endpoint", "CSI_ENDPOINT", false, "unix:///csi/csi.sock",
          "CSI endpoint: unix:///path/csi.sock or tcp://host:port"),
      new Spec("mode", null, false, "node", "node | controller | all"),
      new Spec("node-id", "NODE_ID", false, null,
          "this node's name (Kubernetes node name); required in node and all modes"),
      new Spec("storage-config", null, false, "/etc/pve-storage-csi/storage.cfg",
          "storage.cfg file with lvmthin/zfspool storages (e.g. /etc/pve/storage.cfg)"),
      new Spec("driver-name", null, false, DEFAULT_DRIVER_NAME, "CSI driver name"),
      new Spec("metrics-address", null, false, null,
          "host:port for /metrics, /healthz and /readyz; empty disables (default: $POD_IP:"
              + DEFAULT_METRICS_PORT + ", or 127.0.0.1:" + DEFAULT_METRICS_PORT
              + " without POD_IP; 0.0.0.0 binds every interface)"),
      new Spec("lease-namespace", "POD_NAMESPACE", false, "default",
          "namespace of the storage-lock Leases"),
      new Spec("pod-name", "POD_NAME", false, null,
          "this pod's name, used in the lock holder identity (default: host name)"),
      new Spec("command-prefix", null, false, "",
          "words put before every lvm/zfs/mount command, e.g. 'nsenter --mount=/proc/1/ns/mnt --'"),
      new Spec("log-level", null, false, "info", "error | warn | info | debug"),
      new Spec("log-format", null, false, "text", "text | json"),
      new Spec("socket-mode", null, false, "0660", "permissions of the unix socket (octal)"),
      new Spec("shutdown-grace", null, false, "30s",
          "how long in-flight RPCs may finish after SIGTERM"),
      new Spec("lock", null, false, "lease",
          "lease (Kubernetes Lease per node and storage) | local (this host only)"),
      new Spec("pve-lock", null, true, "false",
          "also take PVE's /var/lock/pve-manager/pve-storage-<storeid> flock"),
      new Spec("max-volumes-per-node", null, false, "0",
          "NodeGetInfo max_volumes_per_node; 0 lets Kubernetes decide"),
      new Spec("lease-duration", null, false, "15s", "validity of a storage-lock Lease"),
      new Spec("lock-wait", null, false, "60s",
          "longest wait for the storage lock while it does not change hands before an"
              + " RPC answers ABORTED"),
      new Spec("lock-linger", null, false, "1s",
          "how long the Lease is kept after the last operation for a next one (0 to 2s)"),
      new Spec("pool-refresh", null, false, "30s",
          "how often the pool gauges re-read each storage (never on scrape)"),
      new Spec("allow-guest-owners", null, true, "false",
          "allow volume owners of 100 and above, which PVE counts as guest disks"),
      new Spec("kubelet-dir", null, false, "/var/lib/kubelet",
          "the kubelet's root directory; the node mounts and removes only below it"),
      new Spec("lock-dir", null, false, "/run/pve-storage-csi",
          "host directory shared by the node's driver processes: local lock files (without"
              + " --pve-lock) and the launch gates that fence storage commands"),
      new Spec("max-commands", null, false, "16",
          "most storage and node commands running at once"),
      new Spec("max-commands-per-storage", null, false, "4",
          "most commands running at once on one storage (or on the node)"),
      new Spec("command-wait", null, false, "30s",
          "longest a command waits for a slot before the call answers RESOURCE_EXHAUSTED"),
      new Spec("max-calls", null, false, "32",
          "most CSI calls served at once; more answer RESOURCE_EXHAUSTED"),
      new Spec("check-tools", null, true, "true",
          "check at start that the storages' tools run through the prefix (and that ZFS "
              + "userland matches its kernel module); not ready until they do"),
      new Spec("orphan-check-interval", null, false, "10m",
          "how often the node plugin compares its storages with the PVs and "
              + "VolumeSnapshotContents (jittered; 0 turns the check off; 1m to 24h)"),
      new Spec("orphan-grace", null, false, "1h",
          "least age of a volume or snapshot before it counts as an orphan, and least time "
              + "it must have been one before --orphan-cleanup deletes it (1m to 720h)"),
      new Spec("orphan-cleanup", null, true, "false",
          "delete volumes without PV and snapshots without VolumeSnapshotContent after the "
              + "grace period (never PVs whose volume is missing)"),
      new Spec("fault-injection-dir", null, false, null,
          "TEST ONLY, never in production: a directory whose 'arm' file makes the process kill"
              + " itself before or after a call's Nth command (needs "
              + FaultPoint.ENABLE_ENV + "=" + FaultPoint.ENABLE_VALUE + ")"),
      new Spec("help", null, true, "false", "print this help"));

  /** The test-only flag of the crash suite ({@link FaultPoint}). */
  static final String FAULT_INJECTION_FLAG = "fault-injection-dir";

  /**
   * The crash suite's fault directory ({@link FaultPoint}), read apart from the record so that
   * production configuration carries no trace of it. The flag alone is refused: the environment
   * must also say {@value FaultPoint#ENABLE_ENV}={@value FaultPoint#ENABLE_VALUE}, so that a
   * stray flag in a manifest cannot make a production driver kill itself.
   *
   * @throws UsageException when the flag is set without the environment variable, or is not an
   *     absolute path
   */
  public static Optional<Path> faultInjectionDir(List<String> args, Map<String, String> env) {
    Optional<String> dir = new Flags(FLAGS).parse(args, env).get(FAULT_INJECTION_FLAG)
        .filter(s -> !s.isBlank());
    if (dir.isEmpty()) {
      return Optional.empty();
    }
    if (!FaultPoint.ENABLE_VALUE.equals(env.get(FaultPoint.ENABLE_ENV))) {
      throw new UsageException("--" + FAULT_INJECTION_FLAG + " is for the crash tests only and "
          + "needs " + FaultPoint.ENABLE_ENV + "=" + FaultPoint.ENABLE_VALUE + " in the "
          + "environment; remove the flag");
    }
    Path path = Path.of(dir.get());
    if (!path.isAbsolute()) {
      throw new UsageException("--" + FAULT_INJECTION_FLAG + ": '" + dir.get()
          + "' must be an absolute path");
    }
    return Optional.of(path);
  }

  /** The flag table, for {@code serve --help}. */
  public static String help() {
    return new Flags(FLAGS).help();
  }

  /**
   * Builds and validates the configuration.
   *
   * @param args the arguments after {@code serve}
   * @param env the process environment
   * @throws UsageException naming the bad flag
   */
  public static DriverConfig fromArgs(List<String> args, Map<String, String> env) {
    Flags flags = new Flags(FLAGS).parse(args, env);
    if (!flags.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + flags.positional().get(0)
          + "' (serve takes only --flags)");
    }
    Mode mode = choice(flags, "mode", Mode.class);
    Endpoint endpoint;
    try {
      endpoint = Endpoint.parse(flags.get("endpoint").orElseThrow());
    } catch (IllegalArgumentException e) {
      throw new UsageException("--endpoint: " + e.getMessage());
    }

    Optional<String> nodeId = flags.get("node-id").map(String::strip).filter(s -> !s.isEmpty());
    if (nodeId.isPresent() && !LABEL_VALUE.matcher(nodeId.get()).matches()) {
      throw new UsageException("--node-id: '" + nodeId.get() + "' is not usable as a topology "
          + "value (at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric)");
    }
    if (mode.hasStorage() && nodeId.isEmpty()) {
      throw new UsageException("--node-id is required in " + lower(mode) + " mode (or set NODE_ID)");
    }
    Optional<Path> storageConfig = mode.hasStorage()
        ? flags.get("storage-config").filter(s -> !s.isBlank()).map(Path::of)
        : Optional.empty();
    if (mode.hasStorage() && storageConfig.isEmpty()) {
      throw new UsageException("--storage-config is required in " + lower(mode) + " mode");
    }

    String driverName = flags.get("driver-name").orElseThrow();
    if (!DRIVER_NAME.matcher(driverName).matches()) {
      throw new UsageException("--driver-name: '" + driverName + "' must be a domain-style name "
          + "of at most 63 characters (letters, digits, '-', '.')");
    }
    Optional<InetSocketAddress> metrics = address(flags.get("metrics-address")
        .orElseGet(() -> defaultMetricsHost(env) + ":" + DEFAULT_METRICS_PORT));
    String namespace = flags.get("lease-namespace").orElseThrow();
    if (!DNS_LABEL.matcher(namespace).matches()) {
      throw new UsageException("--lease-namespace: '" + namespace + "' is not a namespace name");
    }
    String podName = flags.get("pod-name")
        .or(() -> Optional.ofNullable(env.get("HOSTNAME")))
        .filter(s -> !s.isBlank())
        .orElse("pve-storage-csi");

    List<String> prefix = new ArrayList<>();
    String prefixText = flags.get("command-prefix").orElse("").strip();
    if (!prefixText.isEmpty()) {
      for (String word : prefixText.split("\\s+")) {
        if (!PREFIX_WORD.matcher(word).matches()) {
          throw new UsageException("--command-prefix: control characters are not allowed");
        }
        prefix.add(word);
      }
    }

    LogLevel logLevel = choice(flags, "log-level", LogLevel.class);
    LogFormat logFormat = choice(flags, "log-format", LogFormat.class);
    Set<PosixFilePermission> socketMode = mode(flags.get("socket-mode").orElseThrow());
    Duration grace = duration(flags, "shutdown-grace", Duration.ZERO, Duration.ofHours(1));
    LockMode lockMode = choice(flags, "lock", LockMode.class);
    boolean pveLock = bool(flags, "pve-lock");
    long maxVolumes = integer(flags, "max-volumes-per-node", 0, 1_000_000);
    Duration leaseDuration =
        duration(flags, "lease-duration", Duration.ofSeconds(5), Duration.ofMinutes(10));
    Duration lockWait = duration(flags, "lock-wait", Duration.ofSeconds(1), Duration.ofHours(1));
    Duration lockLinger = duration(flags, "lock-linger", Duration.ZERO, Duration.ofSeconds(2));
    Duration poolRefresh =
        duration(flags, "pool-refresh", Duration.ofSeconds(1), Duration.ofHours(1));
    boolean allowGuestOwners = bool(flags, "allow-guest-owners");
    Path kubeletDir = kubeletDir(flags.get("kubelet-dir").orElseThrow());
    Path lockDir = Path.of(flags.get("lock-dir").orElseThrow());
    if (!lockDir.isAbsolute()) {
      throw new UsageException("--lock-dir: '" + lockDir + "' must be an absolute path");
    }
    int maxCommands = (int) integer(flags, "max-commands", 1, 1024);
    int maxPerStorage = (int) integer(flags, "max-commands-per-storage", 1, maxCommands);
    Duration commandWait =
        duration(flags, "command-wait", Duration.ofMillis(100), Duration.ofMinutes(10));
    int maxCalls = (int) integer(flags, "max-calls", 1, 4096);
    boolean checkTools = bool(flags, "check-tools");
    Duration orphanInterval =
        duration(flags, "orphan-check-interval", Duration.ZERO, Duration.ofHours(24));
    if (!orphanInterval.isZero() && orphanInterval.compareTo(Duration.ofMinutes(1)) < 0) {
      throw new UsageException("--orphan-check-interval: '"
          + flags.get("orphan-check-interval").orElseThrow() + "' must be 0 (off) or from 1m "
          + "to 24h: a check lists every volume and every PV");
    }
    Duration orphanGrace =
        duration(flags, "orphan-grace", Duration.ofMinutes(1), Duration.ofHours(720));
    boolean orphanCleanup = bool(flags, "orphan-cleanup");
    if (orphanCleanup && orphanInterval.isZero()) {
      throw new UsageException("--orphan-cleanup needs the orphan check: set "
          + "--orphan-check-interval to a duration from 1m to 24h, not 0");
    }

    return new DriverConfig(mode, endpoint, nodeId, storageConfig, driverName, metrics,
        namespace, podName, List.copyOf(prefix), logLevel, logFormat, socketMode, grace,
        lockMode, pveLock, maxVolumes, leaseDuration, lockWait, lockLinger, poolRefresh,
        allowGuestOwners, kubeletDir, lockDir, maxCommands, maxPerStorage, commandWait,
        maxCalls, checkTools, orphanInterval, orphanGrace, orphanCleanup);
  }

  /** Which volume owner IDs the driver may use. */
  public OwnerPolicy ownerPolicy() {
    return new OwnerPolicy(allowGuestOwners);
  }

  /**
   * Where /metrics binds by default: the pod's own address (the chart passes it as POD_IP),
   * reachable by Prometheus but not on every interface of the node; outside a pod, loopback.
   */
  private static String defaultMetricsHost(Map<String, String> env) {
    String podIp = env.getOrDefault("POD_IP", "").strip();
    if (podIp.isEmpty()) {
      return "127.0.0.1";
    }
    return podIp.contains(":") ? "[" + podIp + "]" : podIp;
  }

  /** Whether {@code --help} was asked for (checked before validation). */
  public static boolean wantsHelp(List<String> args) {
    return args.contains("--help") || args.contains("-h");
  }

  private static <E extends Enum<E>> E choice(Flags flags, String name, Class<E> type) {
    String value = flags.get(name).orElseThrow();
    for (E constant : type.getEnumConstants()) {
      if (constant.name().equalsIgnoreCase(value)) {
        return constant;
      }
    }
    List<String> accepted = Arrays.stream(type.getEnumConstants()).map(DriverConfig::lower).toList();
    throw new UsageException("--" + name + ": '" + value + "' is not one of "
        + String.join(", ", accepted));
  }

  private static boolean bool(Flags flags, String name) {
    String value = flags.get(name).orElseThrow();
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes" -> true;
      case "false", "0", "no" -> false;
      default -> throw new UsageException("--" + name + ": '" + value + "' is not true or false");
    };
  }

  private static long integer(Flags flags, String name, long min, long max) {
    String value = flags.get(name).orElseThrow();
    try {
      long n = Long.parseLong(value);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new UsageException("--" + name + ": '" + value + "' must be an integer from " + min
        + " to " + max);
  }

  static Duration duration(Flags flags, String name, Duration min, Duration max) {
    return duration(name, flags.get(name).orElseThrow(), min, max);
  }

  /** Parses the value of flag {@code --name} as a duration within a range (also for client). */
  static Duration duration(String name, String value, Duration min, Duration max) {
    Matcher m = DURATION.matcher(value);
    Duration d = null;
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      String unit = m.group(2) == null ? "s" : m.group(2);
      d = switch (unit) {
        case "ms" -> Duration.ofMillis(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofSeconds(n);
      };
    }
    if (d == null || d.compareTo(min) < 0 || d.compareTo(max) > 0) {
      throw new UsageException("--" + name + ": '" + value + "' must be a duration like 500ms, "
          + "30s or 2m, from " + human(min) + " to " + human(max));
    }
    return d;
  }

  private static String human(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
  }

  /** An absolute, normalised directory other than {@code /}; trailing slashes are dropped. */
  private static Path kubeletDir(String text) {
    String dir = text.strip();
    while (dir.length() > 1 && dir.endsWith("/")) {
      dir = dir.substring(0, dir.length() - 1);
    }
    try {
      return Path.of(new HostPath(dir).value());
    } catch (IllegalArgumentException e) {
      throw new UsageException("--kubelet-dir: '" + text + "' must be an absolute, normalised "
          + "directory other than / (e.g. /var/lib/kubelet): " + e.getMessage());
    }
  }

  private static Optional<InetSocketAddress> address(String text) {
    if (text.isBlank()) {
      return Optional.empty();
    }
    int colon = text.lastIndexOf(':');
    if (colon < 0) {
      throw new UsageException("--metrics-address: '" + text + "' must be host:port or :port");
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    try {
      int port = Integer.parseInt(text.substring(colon + 1));
      if (port < 0 || port > 65535) {
        throw new NumberFormatException();
      }
      return Optional.of(host.isEmpty()
          ? new InetSocketAddress(port)
          : InetSocketAddress.createUnresolved(host, port));
    } catch (NumberFormatException e) {
      throw new UsageException("--metrics-address: '" + text + "' has no valid port (0-65535)");
    }
  }

  private static Set<PosixFilePermission> mode(String text) {
    if (!OCTAL_MODE.matcher(text).matches()) {
      throw new UsageException("--socket-mode: '" + text + "' must be an octal mode like 0660");
    }
    int bits = Integer.parseInt(text, 8);
    Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
    PosixFilePermission[] order = {
      PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE,
      PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
      PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
      PosixFilePermission.OWNER_READ
    };
    for (int i = 0; i < order.length; i++) {
      if ((bits & (1 << i)) != 0) {
        perms.add(order[i]);
      }
    }
    if (!perms.contains(PosixFilePermission.OWNER_READ)
        || !perms.contains(PosixFilePermission.OWNER_WRITE)) {
      throw new UsageException("--socket-mode: '" + text + "' must let the owner read and write");
    }
    return Set.copyOf(perms);
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }
}
