package io.csi.pvestorage.harness;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Translates one container of a rendered pod spec into an OCI runtime configuration for runc,
 * the way a kubelet and containerd would run it on a node: the image's entrypoint with the
 * container's args ({@code $(VAR)} expanded), the image's environment with the container's
 * (downward API fields filled from {@link PodFacts}), privileged (every capability, all devices,
 * no seccomp or masked paths), a read-only root when asked, the runtime's default mounts under
 * the pod's volume mounts (hostPath as recursive binds with the mount propagation asked for,
 * emptyDir and configMap volumes as kubelet directories), hostPID/hostIPC as shared namespaces,
 * the memory limit as a cgroup setting.
 *
 * <p>What a cluster provides and the chart cannot say is a {@link PodFacts} stand-in: the pod's
 * name, UID and node, its network namespace (made by the caller, as a CNI would), the
 * kubelet's {@code /etc/hosts}, and environment a kubelet injects (the API server's address).
 * Volume kinds other than hostPath, emptyDir and configMap are refused, so that a chart change
 * this translation does not understand fails loudly instead of running a different pod.
 */
public final class PodRuntimeSpec {

  /** Every capability a privileged container gets (as many as runc 1.1 knows). */
  static final List<String> ALL_CAPABILITIES = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE",
      "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
      "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
      "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
      "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG",
      "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
      "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE");

  private static final Pattern VARIABLE = Pattern.compile("\\$\\$|\\$\\(([A-Za-z_][A-Za-z0-9_.-]*)\\)");

  /**
   * What the cluster knows of the pod and the chart does not.
   *
   * @param podName the pod's name (also its host name: hostNetwork is off)
   * @param namespace the pod's namespace
   * @param uid the pod's UID (its kubelet directory)
   * @param nodeName the node it runs on ({@code spec.nodeName})
   * @param kubeletDir the kubelet's root directory on the node
   * @param networkNamespace the pod's network namespace, made as a CNI plugin would
   * @param podIp the pod's address in that namespace ({@code status.podIP})
   * @param kubeletEnv what the kubelet adds to every container's environment
   */
  public record PodFacts(String podName, String namespace, String uid, String nodeName,
      String kubeletDir, String networkNamespace, String podIp, Map<String, String> kubeletEnv) {

    /** The kubelet's directory of this pod. */
    public String podDir() {
      return kubeletDir + "/pods/" + uid;
    }
  }

  /** The image configuration's part that decides how a container starts. */
  public record ImageConfig(List<String> entrypoint, List<String> cmd, List<String> env,
      String workingDir) {}

  /** A file the kubelet writes before the container starts (configMap data, /etc/hosts). */
  public record NodeFile(String path, String content) {}

  /**
   * The translation.
   *
   * @param config the runc {@code config.json}, as nested maps and lists
   * @param directories node directories to create first (DirectoryOrCreate, emptyDir, configMap)
   * @param requiredDirectories node directories that must exist already (hostPath Directory)
   * @param files files to write first
   */
  public record Result(Map<String, Object> config, List<String> directories,
      List<String> requiredDirectories, List<NodeFile> files) {}

  private PodRuntimeSpec() {}

  /**
   * Translates the named container of the pod.
   *
   * @param configMaps the rendered ConfigMaps a configMap volume may name
   * @param rootfs where the image is unpacked on the node
   * @param cgroupsPath the container's cgroup
   */
  public static Result translate(PodSpec pod, String containerName, List<ConfigMap> configMaps,
      ImageConfig image, PodFacts facts, String rootfs, String cgroupsPath) {
    Container container = pod.getContainers().stream()
        .filter(c -> c.getName().equals(containerName)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("the pod has no container " + containerName));
    List<String> directories = new ArrayList<>();
    List<String> required = new ArrayList<>();
    List<NodeFile> files = new ArrayList<>();

    Map<String, String> env = new LinkedHashMap<>();
    for (String entry : image.env()) {
      String[] kv = entry.split("=", 2);
      env.put(kv[0], kv.length > 1 ? kv[1] : "");
    }
    env.put("HOSTNAME", facts.podName());
    env.putAll(facts.kubeletEnv());
    for (EnvVar var : Optional.ofNullable(container.getEnv()).orElse(List.of())) {
      env.put(var.getName(), value(var, facts, env));
    }

    List<String> args = new ArrayList<>();
    List<String> command = container.getCommand() == null || container.getCommand().isEmpty()
        ? image.entrypoint() : container.getCommand();
    List<String> rest = container.getArgs() == null || container.getArgs().isEmpty()
        ? (container.getCommand() == null || container.getCommand().isEmpty() ? image.cmd() : List.of())
        : container.getArgs();
    command.forEach(a -> args.add(expand(a, env)));
    rest.forEach(a -> args.add(expand(a, env)));

    SecurityContext security = Optional.ofNullable(container.getSecurityContext())
        .orElseGet(SecurityContext::new);
    boolean privileged = Boolean.TRUE.equals(security.getPrivileged());
    if (!privileged) {
      throw new IllegalArgumentException("container " + containerName + " is not privileged; "
          + "this translation knows only the node plugin's privileged container");
    }

    List<Map<String, Object>> mounts = new ArrayList<>();
    List<Map<String, Object>> podMounts = new ArrayList<>();
    String propagation = null;
    for (VolumeMount mount : Optional.ofNullable(container.getVolumeMounts()).orElse(List.of())) {
      Volume volume = pod.getVolumes().stream().filter(v -> v.getName().equals(mount.getName()))
          .findFirst().orElseThrow(() -> new IllegalArgumentException("no volume " + mount.getName()));
      String source = source(volume, facts, configMaps, directories, required, files);
      List<String> options = new ArrayList<>(List.of("rbind"));
      String mode = Optional.ofNullable(mount.getMountPropagation()).orElse("None");
      switch (mode) {
        case "Bidirectional" -> {
          options.add("rshared");
          propagation = "rshared";
        }
        case "HostToContainer" -> {
          options.add("rslave");
          propagation = propagation == null ? "rslave" : propagation;
        }
        case "None" -> options.add("rprivate");
        default -> throw new IllegalArgumentException("mount propagation " + mode);
      }
      if (Boolean.TRUE.equals(mount.getReadOnly())) {
        options.add("ro");
      }
      podMounts.add(mount(mount.getMountPath(), "bind", source, options));
    }
    String hosts = facts.podDir() + "/etc-hosts";
    files.add(new NodeFile(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        + "127.0.1.1\t" + facts.podName() + "\n"));
    podMounts.add(mount("/etc/hosts", "bind", hosts, List.of("rbind", "rprivate", "ro")));
    for (Map<String, Object> runtimeDefault : runtimeMounts()) {
      boolean replaced = podMounts.stream()
          .anyMatch(m -> m.get("destination").equals(runtimeDefault.get("destination")));
      if (!replaced) {
        mounts.add(runtimeDefault);
      }
    }
    mounts.addAll(podMounts);
    // Parents before children, as containerd orders them: /dev before /dev/pts.
    mounts.sort(Comparator.comparingInt(m -> depth((String) m.get("destination"))));

    List<Map<String, Object>> namespaces = new ArrayList<>();
    namespaces.add(Map.of("type", "mount"));
    namespaces.add(Map.of("type", "uts"));
    namespaces.add(Map.of("type", "cgroup"));
    namespaces.add(Map.of("type", "network", "path", facts.networkNamespace()));
    if (!Boolean.TRUE.equals(pod.getHostIPC())) {
      namespaces.add(Map.of("type", "ipc"));
    }
    if (!Boolean.TRUE.equals(pod.getHostPID())) {
      namespaces.add(Map.of("type", "pid"));
    }
    if (Boolean.TRUE.equals(pod.getHostNetwork())) {
      throw new IllegalArgumentException("hostNetwork pods are not translated (the chart's is not)");
    }

    Map<String, Object> process = new LinkedHashMap<>();
    process.put("terminal", false);
    process.put("user", Map.of("uid", 0, "gid", 0));
    process.put("args", args);
    process.put("env", env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    process.put("cwd", Optional.ofNullable(container.getWorkingDir()).orElse(image.workingDir()));
    process.put("capabilities", Map.of("bounding", ALL_CAPABILITIES, "effective", ALL_CAPABILITIES,
        "permitted", ALL_CAPABILITIES, "inheritable", ALL_CAPABILITIES));
    process.put("rlimits", List.of(Map.of("type", "RLIMIT_NOFILE", "hard", 1048576, "soft", 1048576)));
    process.put("noNewPrivileges", false);

    Map<String, Object> linux = new LinkedHashMap<>();
    linux.put("namespaces", namespaces);
    linux.put("resources", resources(container.getResources()));
    linux.put("cgroupsPath", cgroupsPath);
    if (propagation != null) {
      linux.put("rootfsPropagation", propagation);
    }
    // Privileged: nothing masked or read-only under /proc and /sys.
    linux.put("maskedPaths", List.of());
    linux.put("readonlyPaths", List.of());

    Map<String, Object> config = new LinkedHashMap<>();
    config.put("ociVersion", "1.0.2");
    config.put("process", process);
    config.put("root", Map.of("path", rootfs,
        "readonly", Boolean.TRUE.equals(security.getReadOnlyRootFilesystem())));
    config.put("hostname", facts.podName());
    config.put("mounts", mounts);
    config.put("linux", linux);
    return new Result(config, directories, required, files);
  }

  /** The node path behind a pod volume; records what must exist or be written first. */
  private static String source(Volume volume, PodFacts facts, List<ConfigMap> configMaps,
      List<String> directories, List<String> required, List<NodeFile> files) {
    if (volume.getHostPath() != null) {
      String path = volume.getHostPath().getPath();
      String type = Optional.ofNullable(volume.getHostPath().getType()).orElse("");
      switch (type) {
        case "DirectoryOrCreate" -> directories.add(path);
        case "Directory" -> required.add(path);
        default -> throw new IllegalArgumentException("hostPath type '" + type + "' of volume "
            + volume.getName() + " is not translated");
      }
      return path;
    }
    if (volume.getEmptyDir() != null) {
      String dir = facts.podDir() + "/volumes/kubernetes.io~empty-dir/" + volume.getName();
      directories.add(dir);
      return dir;
    }
    if (volume.getConfigMap() != null) {
      String name = volume.getConfigMap().getName();
      ConfigMap map = configMaps.stream().filter(c -> c.getMetadata().getName().equals(name))
          .findFirst().orElseThrow(() -> new IllegalArgumentException("no ConfigMap " + name));
      String dir = facts.podDir() + "/volumes/kubernetes.io~configmap/" + volume.getName();
      directories.add(dir);
      List<KeyToPath> items = volume.getConfigMap().getItems();
      if (items == null || items.isEmpty()) {
        map.getData().forEach((key, value) -> files.add(new NodeFile(dir + "/" + key, value)));
      } else {
        for (KeyToPath item : items) {
          files.add(new NodeFile(dir + "/" + item.getPath(),
              Objects.requireNonNull(map.getData().get(item.getKey()), item.getKey())));
        }
      }
      return dir;
    }
    throw new IllegalArgumentException("volume " + volume.getName() + " is of a kind this "
        + "translation does not know (hostPath, emptyDir, configMap)");
  }

  private static String value(EnvVar var, PodFacts facts, Map<String, String> env) {
    if (var.getValueFrom() == null) {
      return expand(Optional.ofNullable(var.getValue()).orElse(""), env);
    }
    if (var.getValueFrom().getFieldRef() == null) {
      throw new IllegalArgumentException("env " + var.getName() + ": only fieldRef is translated");
    }
    String field = var.getValueFrom().getFieldRef().getFieldPath();
    return switch (field) {
      case "spec.nodeName" -> facts.nodeName();
      case "metadata.name" -> facts.podName();
      case "metadata.namespace" -> facts.namespace();
      case "metadata.uid" -> facts.uid();
      case "status.podIP" -> facts.podIp();
      default -> throw new IllegalArgumentException("env " + var.getName() + ": field " + field);
    };
  }

  /** Kubernetes' {@code $(VAR)} references in args and values; {@code $$} is a literal $. */
  static String expand(String text, Map<String, String> env) {
    Matcher m = VARIABLE.matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String replacement = m.group(1) == null ? "\\$"
          : Matcher.quoteReplacement(env.getOrDefault(m.group(1), m.group()));
      m.appendReplacement(out, replacement);
    }
    m.appendTail(out);
    return out.toString();
  }

  /**
   * Every device allowed (privileged) and the memory limit, as containerd sets them. The CPU
   * request is left out: on a node it weighs the pod against other pods inside the kubepods
   * cgroup, but here the container's cgroup sits beside the guest's own processes, where a 50m
   * weight would starve the driver of an emulated CPU rather than share it.
   */
  private static Map<String, Object> resources(ResourceRequirements resources) {
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("devices", List.of(Map.of("allow", true, "access", "rwm")));
    Quantity memory = Optional.ofNullable(resources).map(ResourceRequirements::getLimits)
        .map(l -> l.get("memory")).orElse(null);
    if (memory != null) {
      result.put("memory", Map.of("limit", Quantity.getAmountInBytes(memory).longValueExact()));
    }
    return result;
  }

  /** What the runtime mounts in every container before the pod's volumes (privileged). */
  private static List<Map<String, Object>> runtimeMounts() {
    return List.of(
        mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")),
        mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")),
        mount("/dev/pts", "devpts", "devpts",
            List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
        mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")),
        mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "rw")),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("nosuid", "noexec", "nodev", "relatime", "rw")));
  }

  private static Map<String, Object> mount(String destination, String type, String source,
      List<String> options) {
    Map<String, Object> mount = new LinkedHashMap<>();
    mount.put("destination", destination);
    mount.put("type", type);
    mount.put("source", source);
    mount.put("options", options);
    return mount;
  }

  private static int depth(String path) {
    return (int) path.chars().filter(c -> c == '/').count() - (path.equals("/") ? 1 : 0);
  }
}
