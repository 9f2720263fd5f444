package io.csi.pvestorage.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.chart.RenderedChart;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The translation of the node DaemonSet's driver container, rendered from the chart, into the
 * runc configuration the container ITs run: what the pod spec says must arrive in config.json.
 */
class PodRuntimeSpecTest {

  private static final PodRuntimeSpec.ImageConfig IMAGE = new PodRuntimeSpec.ImageConfig(
      List.of("java", "@/app/jvm.options", "-jar", "/app/pve-storage-csi.jar"),
      List.of("serve", "--help"),
      List.of("JAVA_HOME=/opt/java/openjdk", "PATH=/opt/java/openjdk/bin:/usr/bin:/bin"), "/app");
  private static final PodRuntimeSpec.PodFacts FACTS = new PodRuntimeSpec.PodFacts(
      "pve-storage-csi-node-abcde", "pve-storage-csi", "0b6f2c1e-uid", "node-1",
      "/var/lib/kubelet", "/var/run/netns/pod-abcde", "10.244.1.7", Map.of("KUBERNETES_MASTER", "http://127.0.0.1:6443"));

  private static RenderedChart chart(String... values) {
    List<Path> files = new ArrayList<>(List.of(Path.of("src/test/resources/container/node.yaml")));
    for (String v : values) {
      files.add(Path.of(v));
    }
    return RenderedChart.render(Path.of("."), "pve-storage-csi", "pve-storage-csi", files);
  }

  private static PodRuntimeSpec.Result translate(RenderedChart chart) {
    PodSpec pod = chart.only(DaemonSet.class).getSpec().getTemplate().getSpec();
    return PodRuntimeSpec.translate(pod, "driver", chart.all(ConfigMap.class), IMAGE, FACTS,
        "/images/rootfs", "/kubepods/pod/driver");
  }

  @SuppressWarnings("unchecked")
  private static <T> T at(Map<String, Object> map, String... keys) {
    Object value = map;
    for (String key : keys) {
      value = ((Map<String, Object>) value).get(key);
    }
    return (T) value;
  }

  private static Map<String, Map<String, Object>> mountsByDestination(Map<String, Object> config) {
    List<Map<String, Object>> mounts = at(config, "mounts");
    return mounts.stream().collect(Collectors.toMap(m -> (String) m.get("destination"), m -> m));
  }

  private static List<String> namespaceTypes(Map<String, Object> config) {
    List<Map<String, Object>> namespaces = at(config, "linux", "namespaces");
    return namespaces.stream().map(n -> (String) n.get("type")).toList();
  }

  @Test
  void theDefaultDaemonSetRunsTheImageWithTheChartsArgsAndTheHostsPidNamespace() {
    PodRuntimeSpec.Result result = translate(chart());
    Map<String, Object> config = result.config();

    List<String> args = at(config, "process", "args");
    assertEquals(IMAGE.entrypoint(), args.subList(0, 4), "the image's entrypoint, the chart's args");
    assertEquals(List.of("serve", "--mode=node", "--endpoint=unix:///csi/csi.sock"), args.subList(4, 7));
    assertTrue(args.contains("--command-prefix=nsenter --target=1 --mount --uts --ipc --net --pid --"));
    assertTrue(args.contains("--metrics-address=10.244.1.7:9600"), "$(POD_IP) expanded: " + args);
    assertFalse(args.contains("--help"), "args replace the image's CMD");

    List<String> env = at(config, "process", "env");
    assertTrue(env.containsAll(List.of("NODE_ID=node-1", "NODE_NAME=node-1",
        "POD_NAME=pve-storage-csi-node-abcde", "POD_NAMESPACE=pve-storage-csi",
        "POD_IP=10.244.1.7", "JAVA_HOME=/opt/java/openjdk", "KUBERNETES_MASTER=http://127.0.0.1:6443")), env::toString);
    assertEquals("/app", at(config, "process", "cwd"));
    assertEquals(PodRuntimeSpec.ALL_CAPABILITIES, at(config, "process", "capabilities", "bounding"));
    assertEquals("pve-storage-csi-node-abcde", config.get("hostname"));

    assertEquals(List.of("mount", "uts", "cgroup", "network", "ipc"), namespaceTypes(config),
        "hostPID shares the node's PID namespace; the pod keeps its own IPC namespace");
    assertEquals(true, at(config, "root", "readonly"));
    assertEquals("rshared", at(config, "linux", "rootfsPropagation"));
    assertEquals(List.of(), at(config, "linux", "maskedPaths"), "privileged");
    assertEquals(512L << 20, ((Number) at(config, "linux", "resources", "memory", "limit")).longValue());
  }

  @Test
  @SuppressWarnings("unchecked")
  void volumeMountsBecomeBindsOfTheNodesPathsWithTheirPropagation() {
    PodRuntimeSpec.Result result = translate(chart());
    Map<String, Map<String, Object>> mounts = mountsByDestination(result.config());

    assertEquals("/var/lib/kubelet", mounts.get("/var/lib/kubelet").get("source"));
    assertEquals(List.of("rbind", "rshared"), mounts.get("/var/lib/kubelet").get("options"));
    assertEquals(List.of("rbind", "rslave"), mounts.get("/dev").get("options"));
    assertEquals("bind", mounts.get("/dev").get("type"), "the node's /dev replaces the runtime's tmpfs");
    assertEquals(List.of("rbind", "rprivate", "ro"), mounts.get("/sys").get("options"));
    assertEquals(List.of("rbind", "rprivate", "ro"), mounts.get("/run/udev").get("options"));
    assertEquals("/var/lib/kubelet/plugins/pve-storage.csi.io", mounts.get("/csi").get("source"));
    assertEquals("/var/lib/kubelet/pods/0b6f2c1e-uid/volumes/kubernetes.io~empty-dir/tmp",
        mounts.get("/tmp").get("source"));
    String config = "/var/lib/kubelet/pods/0b6f2c1e-uid/volumes/kubernetes.io~configmap/storage-config";
    assertEquals(config, mounts.get("/etc/pve-storage-csi").get("source"));
    assertEquals("devpts", mounts.get("/dev/pts").get("type"), "runtime mounts stay below the pod's");
    assertEquals("proc", mounts.get("/proc").get("type"));

    List<String> order = ((List<Map<String, Object>>) at(result.config(), "mounts")).stream()
        .map(m -> (String) m.get("destination")).toList();
    assertTrue(order.indexOf("/dev") < order.indexOf("/dev/pts"), order::toString);

    assertTrue(result.directories().contains("/var/lib/kubelet/plugins/pve-storage.csi.io"));
    assertTrue(result.requiredDirectories().containsAll(List.of("/var/lib/kubelet", "/dev", "/sys")));
    PodRuntimeSpec.NodeFile storageCfg = result.files().stream()
        .filter(f -> f.path().equals(config + "/storage.cfg")).findFirst().orElseThrow();
    assertTrue(storageCfg.content().startsWith("lvmthin: local-lvm\n"), storageCfg.content());
    assertTrue(storageCfg.content().contains("\tnodes some-other-node"), storageCfg.content());
  }

  @Test
  @SuppressWarnings("unchecked")
  void theOldPrefixKeepsThePodsIpcNamespaceAndNoPrefixSharesTheHosts() {
    Map<String, Object> old = translate(chart("src/test/resources/container/old-prefix.yaml")).config();
    assertTrue(((List<String>) at(old, "process", "args"))
        .contains("--command-prefix=nsenter --mount=/proc/1/ns/mnt --"));
    assertTrue(namespaceTypes(old).contains("ipc"));

    Map<String, Object> imageTools = translate(chart("src/test/resources/chart/lvmthin.yaml")).config();
    assertFalse(namespaceTypes(imageTools).contains("ipc"), "hostIPC");
    assertTrue(namespaceTypes(imageTools).contains("pid"), "no nsenter, no hostPID");
    assertTrue(mountsByDestination(imageTools).containsKey("/run/lock/lvm"));
  }

  @Test
  void variablesExpandAsKubernetesExpandsThem() {
    Map<String, String> env = Map.of("NODE_ID", "n1");
    assertEquals("--node-id=n1", PodRuntimeSpec.expand("--node-id=$(NODE_ID)", env));
    assertEquals("$(MISSING) and $(NODE_ID)", PodRuntimeSpec.expand("$(MISSING) and $$(NODE_ID)", env));
  }

  @Test
  void aVolumeKindItDoesNotKnowIsRefused() {
    RenderedChart chart = chart();
    PodSpec pod = chart.only(DaemonSet.class).getSpec().getTemplate().getSpec();
    pod.getVolumes().replaceAll(v -> v.getName().equals("tmp")
        ? new VolumeBuilder().withName("tmp").withNewSecret().withSecretName("s").endSecret().build() : v);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PodRuntimeSpec.translate(pod, "driver", chart.all(ConfigMap.class), IMAGE, FACTS,
            "/r", "/c"));
    assertTrue(e.getMessage().contains("volume tmp is of a kind"), e.getMessage());
  }
}
