package io.csi.pvestorage.harness;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.PodSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One container of a rendered pod, run by runc in the harness guest as a kubelet and containerd
 * would run it on a node: the image's root file system (unpacked once per image, stacked as an
 * overlay once per guest),
 * the node directories and files the pod's volumes need, a network namespace for the pod (as a
 * CNI plugin makes one), and {@code runc run} of the configuration {@link PodRuntimeSpec}
 * translates from the pod spec. The guest stands for the node: its PID 1, udev, LVM and ZFS are
 * the host's.
 */
public final class PodContainer implements AutoCloseable {

  private static final Duration STEP = Duration.ofSeconds(60);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Unpacked images per guest run directory and manifest: a guest unpacks each image once. */
  private static final Map<String, String> UNPACKED = new ConcurrentHashMap<>();

  private final VmHarness vm;
  private final String id;
  private final PodRuntimeSpec.PodFacts facts;
  private final String netns;
  private final GuestProcess runc;
  private final Map<String, Object> config;

  private PodContainer(VmHarness vm, String id, PodRuntimeSpec.PodFacts facts, String netns,
      GuestProcess runc, Map<String, Object> config) {
    this.vm = vm;
    this.id = id;
    this.facts = facts;
    this.netns = netns;
    this.runc = runc;
    this.config = config;
  }

  /**
   * Runs the named container of the pod.
   *
   * @param id the container's runc ID
   * @param facts the pod's cluster-side facts; its network namespace path must be {@code
   *     /var/run/netns/<name>} (made here with {@code ip netns})
   */
  public static PodContainer start(VmHarness vm, ContainerImage image, PodSpec pod,
      List<ConfigMap> configMaps, String containerName, PodRuntimeSpec.PodFacts facts, String id) {
    String rootfs = unpack(vm, image);
    String netns = facts.networkNamespace().substring(facts.networkNamespace().lastIndexOf('/') + 1);
    must(vm, "ip", "netns", "add", netns);
    must(vm, "ip", "-n", netns, "link", "set", "lo", "up");
    shareKubeletDir(vm, facts.kubeletDir());

    PodRuntimeSpec.Result spec = PodRuntimeSpec.translate(pod, containerName, configMaps,
        image.runtimeConfig(), facts, rootfs, "/kubepods/pod" + facts.uid() + "/" + id);
    for (String dir : spec.directories()) {
      must(vm, "mkdir", "-p", dir);
    }
    for (String dir : spec.requiredDirectories()) {
      if (vm.runner().run(Command.of(STEP, "test", "-d", dir)).exitCode() != 0) {
        throw new IllegalStateException("hostPath " + dir + " (type Directory) does not exist on the node");
      }
    }
    for (PodRuntimeSpec.NodeFile file : spec.files()) {
      must(vm, "mkdir", "-p", file.path().substring(0, file.path().lastIndexOf('/')));
      vm.runner().writeFile(file.path(), file.content());
    }
    String bundle = "/run/pve-csi-containers/" + id;
    must(vm, "mkdir", "-p", bundle);
    try {
      vm.runner().writeFile(bundle + "/config.json",
          JSON.writerWithDefaultPrettyPrinter().writeValueAsString(spec.config()));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    GuestProcess runc = vm.startGuestProcess(List.of("runc", "run", "--bundle", bundle, id), Map.of());
    return new PodContainer(vm, id, facts, netns, runc, spec.config());
  }

  /**
   * The image's root file system in the guest: an overlay whose lower layer is the rootfs
   * unpacked on the host ({@link ContainerImage#unpackedRootfs()}, read over the project share)
   * and whose upper layer takes what runc writes (mount points), as a runtime's snapshotter
   * stacks layers. Once per guest and image.
   */
  static String unpack(VmHarness vm, ContainerImage image) {
    String key = vm.runDir() + " " + image.manifestDigest();
    return UNPACKED.computeIfAbsent(key, k -> {
      String lower = vm.guestPath(image.unpackedRootfs());
      String dir = "/var/lib/pve-csi-images/" + image.shortDigest();
      must(vm, "mkdir", "-p", dir + "/upper", dir + "/work", dir + "/rootfs");
      must(vm, "mount", "-t", "overlay", "overlay", "-o",
          "lowerdir=" + lower + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work", dir + "/rootfs");
      return dir + "/rootfs";
    });
  }

  /** The kubelet makes its root directory a shared mount, so that Bidirectional mounts work. */
  private static void shareKubeletDir(VmHarness vm, String kubeletDir) {
    must(vm, "mkdir", "-p", kubeletDir);
    if (vm.runner().run(Command.of(STEP, "mountpoint", "-q", kubeletDir)).exitCode() != 0) {
      must(vm, "mount", "--bind", kubeletDir, kubeletDir);
    }
    must(vm, "mount", "--make-rshared", kubeletDir);
  }

  /** The runc configuration this container runs with. */
  public Map<String, Object> config() {
    return config;
  }

  public String id() {
    return id;
  }

  public PodRuntimeSpec.PodFacts facts() {
    return facts;
  }

  /** {@code ip netns exec <pod> argv...}: runs a guest command in the pod's network namespace. */
  public List<String> inPodNetwork(List<String> argv) {
    List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", netns));
    all.addAll(argv);
    return all;
  }

  /** {@code runc exec}: a command inside the running container, whatever its exit code. */
  public CommandResult exec(Duration timeout, List<String> argv) {
    List<String> all = new ArrayList<>(List.of("runc", "exec", id));
    all.addAll(argv);
    return vm.runner().run(Command.of(timeout, all));
  }

  /** What the container wrote to stdout and stderr so far. */
  public String log() {
    return runc.log();
  }

  public boolean isAlive() {
    return runc.isAlive();
  }

  /**
   * Stops the container as a kubelet does (SIGTERM, SIGKILL after the grace period), removes
   * what runc and this class made: its state, the network namespace, the pod's directory.
   *
   * @return the container's exit code
   */
  public int stop() {
    int exit = runc.stop();
    vm.runner().run(Command.of(STEP, "runc", "delete", "--force", id));
    vm.runner().run(Command.of(STEP, "ip", "netns", "delete", netns));
    vm.runner().run(Command.of(STEP, "rm", "-rf", facts.podDir(), "/run/pve-csi-containers/" + id));
    return exit;
  }

  @Override
  public void close() {
    stop();
  }

  private static CommandResult must(VmHarness vm, String... argv) {
    return run(vm, STEP, argv);
  }

  private static CommandResult run(VmHarness vm, Duration timeout, String... argv) {
    CommandResult result = vm.runner().run(Command.of(timeout, argv));
    if (result.exitCode() != 0) {
      throw new IllegalStateException("in the guest: " + String.join(" ", argv) + " exited "
          + result.exitCode() + ": " + result.stderrText().strip());
    }
    return result;
  }
}
