package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.app.DriverConfig.LockMode;
import io.csi.pvestorage.app.DriverConfig.LogFormat;
import io.csi.pvestorage.app.DriverConfig.Mode;
import io.csi.pvestorage.app.Flags.UsageException;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DriverConfigTest {

  private static DriverConfig parse(Map<String, String> env, String... args) {
    return DriverConfig.fromArgs(List.of(args), env);
  }

  @Test
  void defaultsFillEverythingButTheNode() {
    DriverConfig c = parse(Map.of(), "--node-id", "node-1");
    assertEquals(Mode.NODE, c.mode());
    assertEquals(new Endpoint.Unix(Path.of("/csi/csi.sock")), c.endpoint());
    assertEquals(Optional.of("node-1"), c.nodeId());
    assertEquals(Optional.of(Path.of("/etc/pve-storage-csi/storage.cfg")), c.storageConfig());
    assertEquals("pve-storage.csi.io", c.driverName());
    assertEquals(9600, c.metricsAddress().orElseThrow().getPort());
    assertEquals(PosixFilePermissions.fromString("rw-rw----"), c.socketMode());
    assertEquals(Duration.ofSeconds(30), c.shutdownGrace());
    assertEquals(LockMode.LEASE, c.lockMode());
    assertEquals(List.of(), c.commandPrefix());
    assertEquals(Duration.ofSeconds(30), c.poolRefresh());
    assertEquals(Duration.ofSeconds(1), c.lockLinger());
    assertEquals(OwnerPolicy.DEFAULT, c.ownerPolicy());
  }

  /** Issue 17: the orphan check reports every 10 minutes by default and deletes nothing. */
  @Test
  void theOrphanCheckReportsByDefaultAndCleansOnlyWhenAsked() {
    DriverConfig c = parse(Map.of(), "--node-id", "n");
    assertEquals(Duration.ofMinutes(10), c.orphanInterval());
    assertEquals(Duration.ofHours(1), c.orphanGrace());
    assertEquals(false, c.orphanCleanup());
    assertEquals(Duration.ZERO, parse(Map.of(), "--node-id", "n", "--orphan-check-interval=0")
        .orphanInterval());
    assertEquals(Duration.ZERO, parse(Map.of(), "--node-id", "n", "--orphan-check-interval=0s")
        .orphanInterval());
    DriverConfig cleaning = parse(Map.of(), "--node-id", "n", "--orphan-cleanup",
        "--orphan-grace=24h");
    assertTrue(cleaning.orphanCleanup());
    assertEquals(Duration.ofHours(24), cleaning.orphanGrace());

    UsageException tooOften = assertThrows(UsageException.class,
        () -> parse(Map.of(), "--node-id", "n", "--orphan-check-interval=30s"));
    assertEquals("--orphan-check-interval: '30s' must be 0 (off) or from 1m to 24h: a check "
        + "lists every volume and every PV", tooOften.getMessage());
    UsageException shortGrace = assertThrows(UsageException.class,
        () -> parse(Map.of(), "--node-id", "n", "--orphan-grace=10s"));
    assertTrue(shortGrace.getMessage().startsWith("--orphan-grace: '10s' must be a duration"),
        shortGrace.getMessage());
    UsageException cleanupWithoutCheck = assertThrows(UsageException.class,
        () -> parse(Map.of(), "--node-id", "n", "--orphan-check-interval=0", "--orphan-cleanup"));
    assertTrue(cleanupWithoutCheck.getMessage().startsWith("--orphan-cleanup needs the orphan "
        + "check"), cleanupWithoutCheck.getMessage());
  }

  @Test
  void guestOwnersAreAllowedOnlyByTheirFlag() {
    assertTrue(parse(Map.of(), "--node-id", "n", "--allow-guest-owners").ownerPolicy()
        .allowGuestIds());
    assertTrue(parse(Map.of(), "--node-id", "n", "--allow-guest-owners=true").allowGuestOwners());
    assertEquals(OwnerPolicy.DEFAULT,
        parse(Map.of(), "--node-id", "n", "--allow-guest-owners", "false").ownerPolicy());
    UsageException e = assertThrows(UsageException.class,
        () -> parse(Map.of(), "--node-id", "n", "--allow-guest-owners=often"));
    assertEquals("--allow-guest-owners: 'often' is not true or false", e.getMessage());
    assertTrue(DriverConfig.help().contains("--allow-guest-owners"));
  }

  /** The node mounts only below the kubelet directory, so it must be a usable directory. */
  @Test
  void kubeletDirDefaultsToTheKubeletsAndMustBeAnAbsoluteDirectory() {
    assertEquals(Path.of("/var/lib/kubelet"), parse(Map.of(), "--node-id=n1").kubeletDir());
    assertEquals(Path.of("/var/snap/microk8s/common/var/lib/kubelet"), parse(Map.of(),
        "--node-id=n1", "--kubelet-dir=/var/snap/microk8s/common/var/lib/kubelet/").kubeletDir());
    for (String bad : List.of("var/lib/kubelet", "/", "/var/lib/../kubelet", "")) {
      UsageException e = assertThrows(UsageException.class,
          () -> parse(Map.of(), "--node-id=n1", "--kubelet-dir=" + bad), bad);
      assertTrue(e.getMessage().startsWith("--kubelet-dir: '" + bad + "' must be an absolute, "
          + "normalised directory other than /"), e.getMessage());
    }
  }

  @Test
  void metricsBindThePodIpOrLoopbackNeverEveryInterfaceByDefault() {
    assertEquals(new java.net.InetSocketAddress("127.0.0.1", 9600).getAddress(),
        resolved(parse(Map.of(), "--node-id=n1")).getAddress());
    assertEquals("10.42.0.7", parse(Map.of("POD_IP", "10.42.0.7"), "--node-id=n1")
        .metricsAddress().orElseThrow().getHostString());
    assertEquals("fd00::7", parse(Map.of("POD_IP", "fd00::7"), "--node-id=n1")
        .metricsAddress().orElseThrow().getHostString());
    assertEquals("0.0.0.0", parse(Map.of("POD_IP", "10.42.0.7"), "--node-id=n1",
        "--metrics-address=0.0.0.0:9700").metricsAddress().orElseThrow().getHostString());
    assertTrue(parse(Map.of(), "--node-id=n1", "--metrics-address=:9600").metricsAddress()
        .orElseThrow().getAddress().isAnyLocalAddress(), "every interface only when asked");
  }

  private static java.net.InetSocketAddress resolved(DriverConfig c) {
    java.net.InetSocketAddress a = c.metricsAddress().orElseThrow();
    return new java.net.InetSocketAddress(a.getHostString(), a.getPort());
  }

  @Test
  void boundsAndTheLockDirectoryHaveDefaultsAndAreChecked() {
    DriverConfig c = parse(Map.of(), "--node-id=n1");
    assertEquals(Path.of("/run/pve-storage-csi"), c.lockDir());
    assertEquals(16, c.maxCommands());
    assertEquals(4, c.maxCommandsPerStorage());
    assertEquals(Duration.ofSeconds(30), c.commandWait());
    assertEquals(32, c.maxCalls());
    DriverConfig set = parse(Map.of(), "--node-id=n1", "--lock-dir=/var/lock/csi",
        "--max-commands=8", "--max-commands-per-storage=2", "--command-wait=5s", "--max-calls=10");
    assertEquals(Path.of("/var/lock/csi"), set.lockDir());
    assertEquals(List.of(8, 2, 10), List.of(set.maxCommands(), set.maxCommandsPerStorage(),
        set.maxCalls()));
    assertEquals(Duration.ofSeconds(5), set.commandWait());
    assertEquals("--lock-dir: 'run/x' must be an absolute path", assertThrows(
        UsageException.class, () -> parse(Map.of(), "--node-id=n1", "--lock-dir=run/x"))
        .getMessage());
    assertEquals("--max-commands-per-storage: '9' must be an integer from 1 to 8", assertThrows(
        UsageException.class, () -> parse(Map.of(), "--node-id=n1", "--max-commands=8",
            "--max-commands-per-storage=9")).getMessage());
    assertEquals("--max-calls: '0' must be an integer from 1 to 4096", assertThrows(
        UsageException.class, () -> parse(Map.of(), "--node-id=n1", "--max-calls=0"))
        .getMessage());
  }

  @Test
  void environmentSuppliesEndpointNodeAndNamespaceButFlagsWin() {
    Map<String, String> env = Map.of("CSI_ENDPOINT", "unix:///var/lib/kubelet/plugins/x/csi.sock",
        "NODE_ID", "from-env", "POD_NAMESPACE", "storage", "POD_NAME", "pod-7");
    DriverConfig c = parse(env, "--node-id=from-flag");
    assertEquals(new Endpoint.Unix(Path.of("/var/lib/kubelet/plugins/x/csi.sock")), c.endpoint());
    assertEquals(Optional.of("from-flag"), c.nodeId());
    assertEquals("storage", c.leaseNamespace());
    assertEquals("pod-7", c.podName());
  }

  @Test
  void controllerModeNeedsNeitherNodeNorStorage() {
    DriverConfig c = parse(Map.of(), "--mode", "controller", "--endpoint", "tcp://127.0.0.1:0");
    assertEquals(Mode.CONTROLLER, c.mode());
    assertEquals(Optional.empty(), c.nodeId());
    assertEquals(Optional.empty(), c.storageConfig());
    assertEquals(new Endpoint.Tcp("127.0.0.1", 0), c.endpoint());
  }

  @Test
  void valuesAreParsed() {
    DriverConfig c = parse(Map.of(), "--node-id=n1", "--command-prefix",
        "nsenter --mount=/proc/1/ns/mnt --", "--pve-lock", "--lock=local", "--log-format=json",
        "--socket-mode=0600", "--shutdown-grace=500ms", "--metrics-address=",
        "--max-volumes-per-node=64", "--lease-duration=20s", "--lock-wait=2m",
        "--pool-refresh=5m", "--lock-linger=250ms");
    assertEquals(List.of("nsenter", "--mount=/proc/1/ns/mnt", "--"), c.commandPrefix());
    assertTrue(c.pveLock());
    assertEquals(LockMode.LOCAL, c.lockMode());
    assertEquals(LogFormat.JSON, c.logFormat());
    assertEquals(PosixFilePermissions.fromString("rw-------"), c.socketMode());
    assertEquals(Duration.ofMillis(500), c.shutdownGrace());
    assertEquals(Optional.empty(), c.metricsAddress());
    assertEquals(64, c.maxVolumesPerNode());
    assertEquals(Duration.ofSeconds(20), c.leaseDuration());
    assertEquals(Duration.ofMinutes(2), c.lockWait());
    assertEquals(Duration.ofMinutes(5), c.poolRefresh());
    assertEquals(Duration.ofMillis(250), c.lockLinger());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      unknown flag             | --node-id=n1 --frobnicate=1    | unknown flag --frobnicate (see --help for the flags)
      missing node             | --mode=node                    | --node-id is required in node mode (or set NODE_ID)
      bad mode                 | --mode=master --node-id=n1     | --mode: 'master' is not one of node, controller, all
      bad endpoint scheme      | --endpoint=http://x --node-id=n1 | --endpoint: 'http://x' is not unix:///path or tcp://host:port
      relative socket          | --endpoint=unix://csi.sock --node-id=n1 | --endpoint: 'unix://csi.sock' needs an absolute socket path, e.g. unix:///csi/csi.sock
      bad tcp port             | --endpoint=tcp://localhost:99999 --node-id=n1 | --endpoint: 'tcp://localhost:99999' has no valid port (0-65535)
      bad node id              | --node-id=node/1               | --node-id: 'node/1' is not usable as a topology value (at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric)
      bad socket mode          | --node-id=n1 --socket-mode=777x | --socket-mode: '777x' must be an octal mode like 0660
      unreadable socket mode   | --node-id=n1 --socket-mode=0066 | --socket-mode: '0066' must let the owner read and write
      bad duration             | --node-id=n1 --shutdown-grace=soon | --shutdown-grace: 'soon' must be a duration like 500ms, 30s or 2m, from 0s to 3600s
      short lease              | --node-id=n1 --lease-duration=1s | --lease-duration: '1s' must be a duration like 500ms, 30s or 2m, from 5s to 600s
      pool refresh too often   | --node-id=n1 --pool-refresh=500ms | --pool-refresh: '500ms' must be a duration like 500ms, 30s or 2m, from 1s to 3600s
      pool refresh too rare    | --node-id=n1 --pool-refresh=2h   | --pool-refresh: '2h' must be a duration like 500ms, 30s or 2m, from 1s to 3600s
      lock linger too long     | --node-id=n1 --lock-linger=5s   | --lock-linger: '5s' must be a duration like 500ms, 30s or 2m, from 0s to 2s
      bad lock                 | --node-id=n1 --lock=etcd        | --lock: 'etcd' is not one of lease, local
      bad log level            | --node-id=n1 --log-level=trace  | --log-level: 'trace' is not one of error, warn, info, debug
      bad max volumes          | --node-id=n1 --max-volumes-per-node=-1 | --max-volumes-per-node: '-1' must be an integer from 0 to 1000000
      bad namespace            | --node-id=n1 --lease-namespace=Kube_System | --lease-namespace: 'Kube_System' is not a namespace name
      bad metrics address      | --node-id=n1 --metrics-address=9600 | --metrics-address: '9600' must be host:port or :port
      value missing            | --node-id                      | --node-id needs a value
      repeated flag            | --node-id=a1 --node-id=b2      | --node-id is given twice
      positional argument      | --node-id=n1 extra             | unexpected argument 'extra' (serve takes only --flags)
      bad driver name          | --node-id=n1 --driver-name=-bad- | --driver-name: '-bad-' must be a domain-style name of at most 63 characters (letters, digits, '-', '.')
      bad boolean              | --node-id=n1 --pve-lock=maybe   | --pve-lock: 'maybe' is not true or false
      """)
  void badInputIsOneLineNamingTheFlag(String what, String args, String message) {
    UsageException e = assertThrows(UsageException.class,
        () -> DriverConfig.fromArgs(List.of(args.split(" ")), Map.of()));
    assertEquals(message, e.getMessage(), what);
    assertTrue(!e.getMessage().contains("\n"), "one line");
  }
}
