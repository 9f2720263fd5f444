package io.csi.pvestorage.conformance;

import io.csi.pvestorage.chart.RenderedChart;
import io.csi.pvestorage.harness.ContainerImage;
import io.csi.pvestorage.harness.GuestProcess;
import io.csi.pvestorage.harness.PodContainer;
import io.csi.pvestorage.harness.PodRuntimeSpec;
import io.csi.pvestorage.harness.RunningDriver;
import io.csi.pvestorage.harness.VmHarness;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The driver's OCI image run as the node DaemonSet's {@code driver} container: the chart is
 * rendered by helm-java with {@code src/test/resources/container/node.yaml} (the chart's
 * defaults plus the guest's storages), its pod spec translated into a runc configuration and
 * run in the guest by {@link PodContainer}. The sidecars do not run; the tests call CSI as they
 * would.
 *
 * <p>What a cluster would give the pod is stood in for by relays (src/test/vm/guest/relay): the
 * host reaches the CSI socket in the kubelet's plugin directory through a TCP relay on a
 * forwarded port, as the sidecars reach it through the socket; the driver reaches the mock API
 * server on the host at {@code 127.0.0.1:}{@value #API_PORT} inside its own network namespace
 * through two relays joined by a unix socket (unix sockets cross network namespaces), where a
 * cluster gives it the API server's Service address and a token.
 */
final class ContainerDriver implements RunningDriver {

  static final Path VALUES = Path.of("src/test/resources/container/node.yaml");
  static final String RELEASE = "pve-storage-csi";
  static final String CONTAINER = "driver";
  /** Where the API server seems to be from inside the pod. */
  static final int API_PORT = 6443;
  private static final int LOG_TAIL = 40;

  private final PodContainer pod;
  private final GuestProcess csiRelay;
  private final List<GuestProcess> apiRelays;
  private final Container spec;

  private ContainerDriver(PodContainer pod, GuestProcess csiRelay, List<GuestProcess> apiRelays,
      Container spec) {
    this.pod = pod;
    this.csiRelay = csiRelay;
    this.apiRelays = apiRelays;
    this.spec = spec;
  }

  /**
   * Renders the chart, builds (or reuses) the image, starts the container and the relays.
   *
   * @param guestPort the guest port of the CSI relay (forwarded to the host)
   * @param apiServerPort the mock API server's port on the host
   * @param extraValues values files on top of {@link #VALUES}
   */
  static ContainerDriver start(VmHarness vm, int guestPort, int apiServerPort,
      List<Path> extraValues) {
    List<Path> values = new ArrayList<>(List.of(vm.projectDir().resolve(VALUES)));
    extraValues.forEach(v -> values.add(vm.projectDir().resolve(v)));
    RenderedChart chart = RenderedChart.render(vm.projectDir(), RELEASE, GuestDriver.LEASE_NAMESPACE,
        values);
    PodSpec podSpec = chart.only(DaemonSet.class).getSpec().getTemplate().getSpec();
    Container driver = podSpec.getContainers().stream()
        .filter(c -> c.getName().equals(CONTAINER)).findFirst().orElseThrow();
    ContainerImage image = ContainerImage.obtain(vm.projectDir());

    String uid = UUID.randomUUID().toString();
    String podName = chart.only(DaemonSet.class).getMetadata().getName() + "-" + uid.substring(0, 5);
    Map<String, String> kubeletEnv = GuestDriver.apiServerEnvironment("127.0.0.1", API_PORT);
    PodRuntimeSpec.PodFacts facts = new PodRuntimeSpec.PodFacts(podName,
        GuestDriver.LEASE_NAMESPACE, uid, GuestDriver.NODE_ID, hostPathOf(podSpec, driver, "kubelet-dir"),
        // The pod's network namespace has only lo (as made below), so that is its address.
        "/var/run/netns/" + podName, "127.0.0.1", kubeletEnv);

    PodContainer pod = PodContainer.start(vm, image, podSpec, chart.all(ConfigMap.class),
        CONTAINER, facts, "driver-" + uid.substring(0, 8));
    List<GuestProcess> apiRelays = new ArrayList<>();
    try {
      String apiSocket = facts.podDir() + "/kubernetes-api.sock";
      apiRelays.add(vm.startGuestProcess(List.of("relay", "unix:" + apiSocket,
          "tcp:" + GuestDriver.HOST_FROM_GUEST + ":" + apiServerPort), Map.of()));
      apiRelays.add(vm.startGuestProcess(pod.inPodNetwork(List.of("relay",
          "tcp:127.0.0.1:" + API_PORT, "unix:" + apiSocket)), Map.of()));
      GuestProcess csiRelay = vm.startGuestProcess(List.of("relay", "tcp:0.0.0.0:" + guestPort,
          "unix:" + csiSocketOnNode(podSpec, driver)), Map.of(), guestPort);
      return new ContainerDriver(pod, csiRelay, apiRelays, driver);
    } catch (RuntimeException e) {
      pod.stop();
      apiRelays.forEach(GuestProcess::stop);
      throw e;
    }
  }

  /**
   * The node path of the driver's CSI socket: its {@code --endpoint=unix://...} inside the
   * container, through the volume mounted there.
   */
  static String csiSocketOnNode(PodSpec pod, Container driver) {
    String endpoint = driver.getArgs().stream().filter(a -> a.startsWith("--endpoint=unix://"))
        .findFirst().orElseThrow(() -> new IllegalStateException("the driver has no unix endpoint"))
        .substring("--endpoint=unix://".length());
    for (VolumeMount mount : driver.getVolumeMounts()) {
      String prefix = mount.getMountPath().endsWith("/") ? mount.getMountPath() : mount.getMountPath() + "/";
      if (endpoint.startsWith(prefix)) {
        return hostPathOf(pod, driver, mount.getName()) + "/" + endpoint.substring(prefix.length());
      }
    }
    throw new IllegalStateException("no volume holds the CSI socket " + endpoint);
  }

  private static String hostPathOf(PodSpec pod, Container driver, String volumeName) {
    Volume volume = pod.getVolumes().stream().filter(v -> v.getName().equals(volumeName))
        .findFirst().orElseThrow(() -> new IllegalStateException("no volume " + volumeName));
    if (volume.getHostPath() == null) {
      throw new IllegalStateException("volume " + volumeName + " of " + driver.getName()
          + " is not a hostPath");
    }
    return volume.getHostPath().getPath();
  }

  /** The running container. */
  PodContainer pod() {
    return pod;
  }

  /** The driver container's spec as the chart rendered it. */
  Container spec() {
    return spec;
  }

  /** The kubelet's directory on the node, which the container shares (Bidirectional). */
  String kubeletDir() {
    return pod.facts().kubeletDir();
  }

  @Override
  public int hostPort() {
    return csiRelay.hostPort();
  }

  @Override
  public String log() {
    return pod.log();
  }

  @Override
  public boolean isAlive() {
    return pod.isAlive();
  }

  /**
   * The container first (it releases its Leases through the API relays), then the relays. The
   * end of the container's log goes to the test output, where a failed case is read.
   */
  @Override
  public int stop() {
    int exit = pod.stop();
    List<String> lines = pod.log().lines().toList();
    System.out.println("container " + pod.id() + " exited " + exit + "; the end of its log:\n  "
        + String.join("\n  ", lines.subList(Math.max(0, lines.size() - LOG_TAIL), lines.size())));
    csiRelay.stop();
    apiRelays.forEach(GuestProcess::stop);
    return exit;
  }
}
