package io.csi.pvestorage.chart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import io.csi.pvestorage.storage.config.StorageConfig;
import io.csi.pvestorage.storage.config.StorageConfigParser;
import io.csi.pvestorage.storage.config.StorageDefinition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.storage.CSIDriver;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Lints and renders the Helm chart in-process (helm-java) and checks the rendered objects. */
class ChartTest {

  private static final Path CHART = Path.of("charts/pve-storage-csi");
  private static final Path VALUES = Path.of("src/test/resources/chart");

  @Test
  void lintStrictPassesWithDefaults() {
    LintResult result = new Helm(CHART).lint().strict().call();
    assertFalse(result.isFailed(), () -> String.join("\n", result.getMessages()));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "lvmthin.yaml", "zfspool.yaml", "pve-interop.yaml",
      "lvmthin-and-zfs.yaml", "../../../../charts/pve-storage-csi/examples/proxmox-host.yaml"})
  void rendersNodeDaemonSetWithSidecarsAndFlags(String valuesFile) {
    List<HasMetadata> objects = render(valuesFile);
    DaemonSet ds = only(objects, DaemonSet.class);
    List<Container> containers = ds.getSpec().getTemplate().getSpec().getContainers();
    assertEquals(List.of("driver", "csi-provisioner", "csi-snapshotter", "node-driver-registrar",
        "liveness-probe"), containers.stream().map(Container::getName).toList());

    Container provisioner = container(containers, "csi-provisioner");
    assertTrue(provisioner.getArgs().containsAll(List.of("--node-deployment", "--enable-capacity",
        "--capacity-ownerref-level=1", "--strict-topology", "--extra-create-metadata")),
        provisioner.getArgs()::toString);
    assertTrue(provisioner.getArgs().stream().anyMatch(a -> a.startsWith("--timeout=")));
    assertTrue(provisioner.getImage().contains("csi-provisioner:v6."));
    Container snapshotter = container(containers, "csi-snapshotter");
    assertTrue(snapshotter.getArgs().containsAll(List.of("--node-deployment", "--extra-create-metadata")));
    assertTrue(snapshotter.getImage().contains("csi-snapshotter:v8."));
    assertTrue(container(containers, "node-driver-registrar").getImage().contains(":v2.17."));
    assertTrue(container(containers, "node-driver-registrar").getArgs().contains(
        "--kubelet-registration-path=/var/lib/kubelet/plugins/pve-storage.csi.io/csi.sock"));
    assertTrue(container(containers, "driver").getArgs().contains(
        "--kubelet-dir=/var/lib/kubelet"));
    assertTrue(container(containers, "liveness-probe").getImage().contains(":v2.19."));

    for (Container c : containers) {
      var sc = c.getSecurityContext();
      assertTrue(sc.getReadOnlyRootFilesystem(), c.getName() + " read-only root");
      if (c.getName().equals("driver")) {
        assertTrue(sc.getPrivileged());
        continue;
      }
      assertFalse(Boolean.TRUE.equals(sc.getPrivileged()), c.getName());
      if (!c.getName().equals("node-driver-registrar")) {
        assertTrue(sc.getRunAsNonRoot(), c.getName() + " runs as non-root");
      }
      assertFalse(sc.getAllowPrivilegeEscalation(), c.getName());
      assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), c.getName());
      assertEquals("RuntimeDefault", sc.getSeccompProfile().getType(), c.getName());
      assertTrue(sc.getCapabilities().getAdd() == null || sc.getCapabilities().getAdd().isEmpty());
      for (VolumeMount m : c.getVolumeMounts()) {
        assertTrue(m.getMountPropagation() == null, c.getName() + " must not propagate mounts");
      }
    }
    for (Container c : containers) {
      List<String> env = c.getEnv() == null ? List.of() : c.getEnv().stream().map(e -> e.getName()).toList();
      if (Set.of("driver", "csi-provisioner", "csi-snapshotter").contains(c.getName())) {
        assertTrue(env.containsAll(List.of("NODE_NAME", "POD_NAME", "POD_NAMESPACE")), c.getName());
      }
    }
    assertEquals("system-node-critical", ds.getSpec().getTemplate().getSpec().getPriorityClassName());
  }

  @Test
  void driverContainerMountsAndPropagation() {
    DaemonSet ds = only(render("lvmthin.yaml"), DaemonSet.class);
    Container driver = container(ds.getSpec().getTemplate().getSpec().getContainers(), "driver");
    Map<String, VolumeMount> mounts = driver.getVolumeMounts().stream()
        .collect(Collectors.toMap(VolumeMount::getMountPath, m -> m));
    assertEquals("Bidirectional", mounts.get("/var/lib/kubelet").getMountPropagation());
    assertEquals("HostToContainer", mounts.get("/dev").getMountPropagation());
    assertTrue(mounts.get("/sys").getReadOnly());
    assertTrue(mounts.get("/run/udev").getReadOnly());
    assertTrue(mounts.containsKey("/csi"));
    assertFalse(mounts.containsKey("/var/lock/pve-manager"));
    // lvm inside the container shares the host's locks and metadata backups
    for (String path : List.of("/run/lock/lvm", "/run/lvm", "/etc/lvm/archive", "/etc/lvm/backup")) {
      assertNotNull(mounts.get(path), path);
      assertFalse(Boolean.TRUE.equals(mounts.get(path).getReadOnly()), path);
    }
    assertFalse(ds.getSpec().getTemplate().getSpec().getHostPID(), "no nsenter, no hostPID");
    assertTrue(driver.getArgs().stream().noneMatch(a -> a.startsWith("--command-prefix")));
    var defaults = only(render(""), DaemonSet.class).getSpec().getTemplate().getSpec();
    assertTrue(defaults.getHostPID(), "the default prefix enters the host's namespaces");
    assertTrue(container(defaults.getContainers(), "driver").getArgs()
        .contains("--command-prefix=nsenter --target=1 --mount --uts --ipc --net --pid --"));
    assertEquals("spec.nodeName", driver.getEnv().stream().filter(e -> e.getName().equals("NODE_ID"))
        .findFirst().orElseThrow().getValueFrom().getFieldRef().getFieldPath());
    assertTrue(driver.getArgs().containsAll(List.of("serve", "--mode=node",
        "--storage-config=/etc/pve-storage-csi/storage.cfg", "--pool-refresh=30s",
        "--lock-wait=60s", "--lock-linger=1s")), driver.getArgs().toString());
  }

  /**
   * lvm waits for udev to complete a cookie (a SysV semaphore) in its own IPC namespace, and the
   * host's udev completes it in the host's. The default prefix therefore enters the IPC
   * namespace of PID 1 together with the mount namespace (and UTS, net and PID, as a host process
   * has them), so the pod keeps its own IPC namespace; without a prefix lvm runs in the
   * container, and the pod shares the host's IPC namespace instead.
   */
  @Test
  void lvmSharesTheHostsIpcNamespaceThroughThePrefixOrHostIpc() {
    var defaults = only(render(""), DaemonSet.class).getSpec().getTemplate().getSpec();
    String prefix = container(defaults.getContainers(), "driver").getArgs().stream()
        .filter(a -> a.startsWith("--command-prefix=")).findFirst().orElseThrow();
    List<String> words = List.of(prefix.substring("--command-prefix=".length()).split(" "));
    assertEquals("nsenter", words.getFirst());
    assertTrue(words.containsAll(List.of("--target=1", "--mount", "--ipc", "--uts")), prefix);
    assertEquals("--", words.getLast(), "the command follows the prefix");
    assertTrue(defaults.getHostPID(), "--target=1 must see the host's PID 1");
    assertFalse(defaults.getHostIPC(), "the prefix enters the host's IPC namespace itself");

    var imageTools = only(render("lvmthin.yaml"), DaemonSet.class).getSpec().getTemplate().getSpec();
    assertTrue(imageTools.getHostIPC(), "lvm inside the container needs the host's IPC namespace");
    assertFalse(imageTools.getHostPID());
  }

  @Test
  void pveInteropMountsTheLockDirAndTheHostConfig() {
    DaemonSet ds = only(render("pve-interop.yaml"), DaemonSet.class);
    var pod = ds.getSpec().getTemplate().getSpec();
    Container driver = container(pod.getContainers(), "driver");
    Set<String> paths = driver.getVolumeMounts().stream().map(VolumeMount::getMountPath)
        .collect(Collectors.toSet());
    assertTrue(paths.contains("/var/lock/pve-manager"));
    assertFalse(paths.contains("/run/lock/lvm"), "with nsenter lvm runs in the host's namespace");
    assertTrue(driver.getArgs().contains("--pve-lock=true"));
    assertTrue(driver.getArgs().contains("--command-prefix=nsenter --mount=/proc/1/ns/mnt --"));
    assertTrue(driver.getArgs().contains("--storage-config=/etc/pve-storage-csi/host/storage.cfg"));
    assertTrue(pod.getHostPID());
    assertEquals("/etc/pve", pod.getVolumes().stream().filter(v -> v.getName().equals("storage-config"))
        .findFirst().orElseThrow().getHostPath().getPath());
    assertTrue(render("pve-interop.yaml").stream().noneMatch(ConfigMap.class::isInstance));
    assertEquals("HostToContainer", driver.getVolumeMounts().stream()
        .filter(m -> m.getName().equals("storage-config")).findFirst().orElseThrow().getMountPropagation());
  }

  @Test
  void guestOwnersAreAllowedOnlyByTheirValue() {
    List<HasMetadata> defaults = render("");
    Container driver = container(only(defaults, DaemonSet.class).getSpec().getTemplate().getSpec()
        .getContainers(), "driver");
    assertTrue(driver.getArgs().stream().noneMatch(a -> a.startsWith("--allow-guest-owners")),
        driver.getArgs()::toString);

    List<HasMetadata> allowed = render("zfspool.yaml");
    assertTrue(container(only(allowed, DaemonSet.class).getSpec().getTemplate().getSpec()
        .getContainers(), "driver").getArgs().contains("--allow-guest-owners=true"));
    assertTrue(container(only(allowed, Deployment.class).getSpec().getTemplate().getSpec()
        .getContainers(), "driver").getArgs().stream()
        .noneMatch(a -> a.startsWith("--allow-guest-owners")), "the controller has no storage");
    String text = only(allowed, ConfigMap.class).getData().get("storage.cfg");
    Exception refused = assertThrows(Exception.class,
        () -> StorageConfigParser.parse(text, "storage.cfg"));
    assertTrue(refused.getMessage().contains("csi-owner 9000") && refused.getMessage()
        .contains("--allow-guest-owners (chart value pve.allowGuestOwners)"), refused::getMessage);

    var notBoolean = new Helm(CHART).template().withKubeVersion("1.34.0")
        .set("pve.allowGuestOwners", "sometimes");
    Exception e = assertThrows(Exception.class, notBoolean::call);
    assertTrue(e.getMessage().contains("allowGuestOwners"), e.getMessage());
  }

  @Test
  void controllerHasResizerWithLeaderElectionAndNoHostAccess() {
    List<HasMetadata> objects = render("");
    Deployment d = only(objects, Deployment.class);
    var pod = d.getSpec().getTemplate().getSpec();
    assertTrue(container(pod.getContainers(), "driver").getArgs().contains("--mode=controller"));
    Container resizer = container(pod.getContainers(), "csi-resizer");
    assertTrue(resizer.getArgs().contains("--leader-election"));
    assertTrue(resizer.getImage().contains("csi-resizer:v2."));
    assertTrue(pod.getVolumes().stream().allMatch(v -> v.getHostPath() == null));
    assertFalse(Boolean.TRUE.equals(pod.getHostPID()));
    for (Container c : pod.getContainers()) {
      assertFalse(Boolean.TRUE.equals(c.getSecurityContext().getPrivileged()));
      assertEquals(List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop());
    }
    assertEquals(1, objects.stream().filter(o -> o.getKind().equals("PodDisruptionBudget")).count());
  }

  @Test
  void csiDriverFields() {
    CSIDriver d = only(render(""), CSIDriver.class);
    assertEquals("pve-storage.csi.io", d.getMetadata().getName());
    assertFalse(d.getSpec().getAttachRequired());
    assertFalse(d.getSpec().getPodInfoOnMount());
    assertEquals("File", d.getSpec().getFsGroupPolicy());
    assertTrue(d.getSpec().getStorageCapacity());
    assertEquals(List.of("Persistent"), d.getSpec().getVolumeLifecycleModes());
    assertFalse(d.getSpec().getSeLinuxMount());
  }

  /**
   * The chart grants exactly the rules the pinned sidecars publish for themselves (kept as data
   * in src/test/resources/chart/sidecar-rbac/, one file per sidecar with the upstream file and
   * tag), less the rules each file withholds with a reason, plus the driver's own: nothing more,
   * nothing missing. A sidecar that is turned off takes its rules with it.
   */
  @ParameterizedTest
  @ValueSource(strings = {"", "pve-interop.yaml", "zfspool.yaml", "lvmthin.yaml", "local-lock-no-snapshotter.yaml"})
  void rbacIsExactlyWhatThePinnedSidecarsPublishLessWhatIsWithheld(String valuesFile) {
    List<HasMetadata> objects = render(valuesFile);
    Set<String> granted = SidecarRbac.granted(objects);
    List<String> drift = SidecarRbac.drift(SidecarRbac.load(), objects);
    assertTrue(drift.isEmpty(), String.join("\n", drift));
    assertTrue(granted.stream().noneMatch(r -> r.contains("secrets") || r.contains("*")), granted::toString);
    assertEquals(2, objects.stream().filter(ServiceAccount.class::isInstance).count());
  }

  /** The rules issue 15 names, spelled out so that a change of the data files cannot drop them. */
  @Test
  void theRulesTheCurrentSidecarsNeedAreGranted() {
    Set<String> granted = SidecarRbac.granted(render(""));
    assertTrue(granted.contains("ClusterRole/node  persistentvolumes patch"),
        "csi-provisioner v6 patches the protection finalizer of every bound PV");
    assertTrue(granted.containsAll(List.of(
        "ClusterRole/node snapshot.storage.k8s.io volumesnapshots watch",
        "ClusterRole/node snapshot.storage.k8s.io volumesnapshots update")),
        "the provisioner's finalizer on a VolumeSnapshot it restores from");
    assertEquals(Set.of("Role/controller coordination.k8s.io leases get",
        "Role/controller coordination.k8s.io leases create",
        "Role/controller coordination.k8s.io leases update"),
        granted.stream().filter(r -> r.startsWith("Role/controller")).collect(Collectors.toSet()),
        "csi-resizer's leader election only gets, creates and updates its Lease");
    assertTrue(granted.contains("Role/node coordination.k8s.io leases update"), "the storage lock");
    assertTrue(granted.stream().noneMatch(r -> r.contains(" apps ")),
        "the capacity owner walk of level 1 reads no DaemonSet or ReplicaSet");
    assertTrue(granted.stream().noneMatch(r -> r.contains("volumesnapshotcontents create")),
        "csi-snapshotter has not created VolumeSnapshotContents since v6 (#689)");
  }

  /**
   * Bumping a sidecar image without its published rules fails: every sidecar that talks to the
   * API server has a data file for exactly the image the chart runs.
   */
  @Test
  void everySidecarImageHasItsPublishedRulesAsData() {
    List<SidecarRbac> files = SidecarRbac.load();
    List<HasMetadata> objects = render("");
    List<Container> containers = new ArrayList<>(only(objects, DaemonSet.class).getSpec().getTemplate()
        .getSpec().getContainers());
    containers.addAll(only(objects, Deployment.class).getSpec().getTemplate().getSpec().getContainers());
    for (Container c : containers) {
      if (Set.of("driver", "node-driver-registrar", "liveness-probe").contains(c.getName())) {
        continue; // the registrar and the probe talk to the kubelet and the socket only
      }
      assertTrue(files.stream().anyMatch(f -> f.image().equals(c.getImage())),
          c.getName() + " runs " + c.getImage() + ", but no file in " + SidecarRbac.DIR
              + " holds that version's published RBAC");
    }
    for (SidecarRbac f : files) {
      // load() has checked that every rule names its sources and the pinned tag is covered.
      assertTrue(f.image().isEmpty() || f.sources().containsKey(f.published()), f.sidecar());
    }
  }

  /**
   * The comparison catches a rule that drifts either way: a verb the chart grants beyond the
   * data, and a verb of the data the chart no longer grants.
   */
  @Test
  void aRuleThatDriftsFromTheDataFailsTheComparison() {
    List<HasMetadata> objects = render("");
    assertEquals(List.of(), SidecarRbac.drift(SidecarRbac.load(), objects));

    ClusterRole node = objects.stream()
        .filter(o -> o instanceof ClusterRole && o.getMetadata().getName().endsWith("-node"))
        .map(ClusterRole.class::cast).findFirst().orElseThrow();
    var pvRule = node.getRules().stream().filter(r -> r.getResources().contains("persistentvolumes"))
        .findFirst().orElseThrow();
    pvRule.setVerbs(new ArrayList<>(pvRule.getVerbs()));
    pvRule.getVerbs().remove("patch");
    pvRule.getVerbs().add("update");
    assertEquals(List.of("granted but not in the data: ClusterRole/node  persistentvolumes update",
        "in the data but not granted: ClusterRole/node  persistentvolumes patch"),
        SidecarRbac.drift(SidecarRbac.load(), objects));
  }

  /** A rule without its source, or a pinned tag nobody read about, fails when the data is read. */
  @Test
  void dataFilesMustSayWhereEachRuleComesFromUpToThePinnedTag() {
    String header = """
        sidecar: csi-example
        image: registry.k8s.io/sig-storage/csi-example:v2.0.0
        serviceAccount: node
        published: rbac
        sources:
          rbac: {repo: kubernetes-csi/external-example, path: deploy/kubernetes/rbac.yaml,
                 commit: 0123456789abcdef0123456789abcdef01234567, version: v1.0.0}
        """;
    String rule = """
        rules:
          - {kind: ClusterRole, apiGroup: "", resource: nodes, verbs: [get], from: [rbac]}
        """;
    Exception noNotes = assertThrows(IllegalStateException.class,
        () -> SidecarRbac.parse("example", header + rule));
    assertTrue(noNotes.getMessage().contains("read the release notes up to v2.0.0"),
        noNotes.getMessage());
    SidecarRbac covered = SidecarRbac.parse("example", header + "notes: {read: [v2.0.0]}\n" + rule);
    assertEquals("v2.0.0", covered.pinnedTag());

    Exception noSource = assertThrows(IllegalStateException.class, () -> SidecarRbac.parse("example",
        header + "notes: {read: [v2.0.0]}\n" + rule.replace(", from: [rbac]", "")));
    assertTrue(noSource.getMessage().contains("must name where it comes from"), noSource.getMessage());
    Exception unknownSource = assertThrows(IllegalStateException.class, () -> SidecarRbac.parse(
        "example", header + "notes: {read: [v2.0.0]}\n" + rule.replace("[rbac]", "[blog]")));
    assertTrue(unknownSource.getMessage().contains("must name where it comes from"));
    Exception badCommit = assertThrows(IllegalStateException.class, () -> SidecarRbac.parse(
        "example", header.replace("0123456789abcdef0123456789abcdef01234567", "v1.0.0")
            + "notes: {read: [v2.0.0]}\n" + rule));
    assertTrue(badCommit.getMessage().contains("40 hex digits"), badCommit.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "lvmthin.yaml", "zfspool.yaml", "lvmthin-and-zfs.yaml"})
  void configMapIsValidStorageCfg(String valuesFile) {
    List<HasMetadata> objects = render(valuesFile);
    ConfigMap cm = only(objects, ConfigMap.class);
    String text = cm.getData().get("storage.cfg");
    // Read as the driver reads it, with the owner policy the chart's flags give it.
    boolean allowGuestOwners = container(only(objects, DaemonSet.class).getSpec().getTemplate()
        .getSpec().getContainers(), "driver").getArgs().contains("--allow-guest-owners=true");
    StorageConfig config = StorageConfigParser.parse(text, "storage.cfg",
        new OwnerPolicy(allowGuestOwners));
    List<String> ids = config.storages().stream().map(StorageDefinition::storeId).toList();
    List<String> classes = objects.stream().filter(StorageClass.class::isInstance)
        .map(o -> ((StorageClass) o).getParameters().get("storage")).toList();
    assertFalse(ids.isEmpty());
    assertEquals(text.lines().filter(l -> l.matches("^(lvmthin|zfspool): .*")).count(), ids.size(), text);
    assertTrue(ids.containsAll(classes), ids + " must hold " + classes);
    for (HasMetadata o : objects) {
      if (o instanceof StorageClass sc) {
        assertEquals("WaitForFirstConsumer", sc.getVolumeBindingMode());
        assertTrue(sc.getAllowVolumeExpansion());
        assertEquals("pve-storage.csi.io", sc.getProvisioner());
      }
    }
  }

  @Test
  void storageClassReclaimPolicyAndSnapshotClassFromValues() {
    StorageClass sc = only(render("lvmthin.yaml"), StorageClass.class);
    assertEquals("Retain", sc.getReclaimPolicy());
    assertEquals("xfs", sc.getParameters().get("csi.storage.k8s.io/fstype"));
    assertTrue(render("zfspool.yaml").stream().anyMatch(o -> o.getKind().equals("VolumeSnapshotClass")));
    assertTrue(render("").stream().noneMatch(o -> o.getKind().equals("VolumeSnapshotClass")));
    assertTrue(render("").stream().noneMatch(o -> o.getKind().equals("CustomResourceDefinition")));
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({
      "bad-type.yaml, controller.replicas",
      "bad-storage-type.yaml, storageConfig.storages.0.type",
      "bad-unknown-key.yaml, driverr",
      "bad-duration.yaml, driver.poolRefresh",
      "bad-fstype.yaml, storageClasses.0.fsType"})
  void schemaRejectsBadValues(String valuesFile, String where) {
    Exception e = assertThrows(Exception.class, () -> render(valuesFile));
    assertTrue(e.getMessage().contains("schema"), e.getMessage());
    assertTrue(e.getMessage().replace('/', '.').contains(where), e.getMessage());
  }

  @Test
  void existingConfigMapIsMountedAsStorageCfg() {
    var template = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("storageConfig.source", "configMap")
        .set("storageConfig.existingConfigMap.name", "my-storage").set("storageClasses", "null");
    List<HasMetadata> objects = parse(template.call());
    assertTrue(objects.stream().noneMatch(ConfigMap.class::isInstance));
    var volume = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec().getVolumes().stream()
        .filter(v -> v.getName().equals("storage-config")).findFirst().orElseThrow();
    assertEquals("my-storage", volume.getConfigMap().getName());
    assertEquals("storage.cfg", volume.getConfigMap().getItems().getFirst().getPath());
    Exception e = assertThrows(Exception.class, () -> new Helm(CHART).template().withKubeVersion("1.34.0")
        .set("storageConfig.source", "configMap").call());
    assertTrue(e.getMessage().contains("existingConfigMap.name is required"), e.getMessage());
  }

  @Test
  void storageClassNamingAnUndefinedStorageFails() {
    Exception e = assertThrows(Exception.class, () -> render("bad-storage-ref.yaml"));
    assertTrue(e.getMessage().contains("not-defined"), e.getMessage());
  }

  @Test
  void localLockAndNoSnapshotterGrantLess() {
    var template = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("driver.lock", "local").set("sidecars.snapshotter.enabled", "false");
    List<HasMetadata> objects = parse(template.call());
    Role node = objects.stream().filter(o -> o instanceof Role && o.getMetadata().getName().endsWith("-node"))
        .map(Role.class::cast).findFirst().orElseThrow();
    assertTrue(node.getRules().stream().noneMatch(r -> r.getResources().contains("leases")));
    ClusterRole cluster = objects.stream()
        .filter(o -> o instanceof ClusterRole && o.getMetadata().getName().endsWith("-node"))
        .map(ClusterRole.class::cast).findFirst().orElseThrow();
    // Without the snapshotter only the provisioner's snapshot rules stay (restore from a snapshot).
    assertTrue(cluster.getRules().stream().filter(r -> r.getApiGroups().contains("snapshot.storage.k8s.io"))
        .noneMatch(r -> r.getResources().contains("volumesnapshotclasses")
            || r.getResources().contains("volumesnapshotcontents/status")));
    assertTrue(only(objects, DaemonSet.class).getSpec().getTemplate().getSpec().getContainers().stream()
        .noneMatch(c -> c.getName().equals("csi-snapshotter")));
  }

  /**
   * Issue 13 point 8: {@code driver.lock: local} without {@code pve.interop} used to put its
   * flock files on the read-only root. The directory the driver's --lock-dir names is a
   * writable host path, for the default and for a configured directory.
   */
  @ParameterizedTest
  @ValueSource(strings = {"", "/var/lock/pve-storage-csi"})
  void theLocalLockHasAWritableHostDirectoryWhereTheDriverLooks(String lockDir) {
    var template = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("driver.lock", "local");
    if (!lockDir.isEmpty()) {
      template = template.set("driver.lockDir", lockDir);
    }
    var pod = only(parse(template.call()), DaemonSet.class).getSpec().getTemplate().getSpec();
    Container driver = container(pod.getContainers(), "driver");
    assertTrue(driver.getArgs().contains("--lock=local"));
    assertTrue(driver.getArgs().stream().noneMatch(a -> a.startsWith("--pve-lock")));
    String dir = driver.getArgs().stream().filter(a -> a.startsWith("--lock-dir="))
        .map(a -> a.substring("--lock-dir=".length())).findFirst().orElseThrow();
    assertEquals(lockDir.isEmpty() ? "/run/pve-storage-csi" : lockDir, dir);
    VolumeMount mount = driver.getVolumeMounts().stream()
        .filter(m -> m.getMountPath().equals(dir)).findFirst().orElseThrow();
    assertFalse(Boolean.TRUE.equals(mount.getReadOnly()), "the flock files are created there");
    var volume = pod.getVolumes().stream().filter(v -> v.getName().equals(mount.getName()))
        .findFirst().orElseThrow();
    assertEquals(dir, volume.getHostPath().getPath(), "shared with every driver process of the node");
    assertEquals("DirectoryOrCreate", volume.getHostPath().getType());
  }

  @Test
  void theDriverBindsMetricsToThePodIpIsBoundedAndReportsReadiness() {
    var pod = only(render(""), DaemonSet.class).getSpec().getTemplate().getSpec();
    Container driver = container(pod.getContainers(), "driver");
    assertTrue(driver.getArgs().containsAll(List.of("--metrics-address=$(POD_IP):9600",
        "--max-commands=16", "--max-commands-per-storage=4", "--command-wait=30s",
        "--max-calls=32")), driver.getArgs().toString());
    assertEquals("status.podIP", driver.getEnv().stream().filter(e -> e.getName().equals("POD_IP"))
        .findFirst().orElseThrow().getValueFrom().getFieldRef().getFieldPath());
    assertEquals("/readyz", driver.getReadinessProbe().getHttpGet().getPath());
    assertEquals("metrics", driver.getReadinessProbe().getHttpGet().getPort().getStrVal());
    assertEquals("healthz", driver.getLivenessProbe().getHttpGet().getPort().getStrVal(),
        "liveness stays on the livenessprobe sidecar (Probe), which a stalled command does not fail");
    var controller = only(render(""), Deployment.class).getSpec().getTemplate().getSpec();
    Container controllerDriver = container(controller.getContainers(), "driver");
    assertTrue(controllerDriver.getArgs().contains("--metrics-address=$(POD_IP):9600"));
    assertTrue(controllerDriver.getEnv().stream().anyMatch(e -> e.getName().equals("POD_IP")));

    var everywhere = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("driver.metricsHost", "0.0.0.0");
    assertTrue(container(only(parse(everywhere.call()), DaemonSet.class).getSpec().getTemplate()
        .getSpec().getContainers(), "driver").getArgs().contains("--metrics-address=0.0.0.0:9600"));
    var service = render("").stream().filter(o -> o.getKind().equals("Service")).findFirst()
        .map(io.fabric8.kubernetes.api.model.Service.class::cast).orElseThrow();
    assertTrue(service.getSpec().getPublishNotReadyAddresses(),
        "a node with a stalled command is still scraped");
  }

  @Test
  void kubeletDirIsConfigurable() {
    String dir = "/var/snap/microk8s/common/var/lib/kubelet";
    var template = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("kubeletDir", dir);
    DaemonSet ds = only(parse(template.call()), DaemonSet.class);
    var pod = ds.getSpec().getTemplate().getSpec();
    assertTrue(container(pod.getContainers(), "node-driver-registrar").getArgs()
        .contains("--kubelet-registration-path=" + dir + "/plugins/pve-storage.csi.io/csi.sock"));
    // The driver mounts and removes only below the directory it is told (issue 13).
    assertTrue(container(pod.getContainers(), "driver").getArgs()
        .contains("--kubelet-dir=" + dir), container(pod.getContainers(), "driver").getArgs()
            ::toString);
    assertEquals("Bidirectional", container(pod.getContainers(), "driver").getVolumeMounts().stream()
        .filter(m -> m.getMountPath().equals(dir)).findFirst().orElseThrow().getMountPropagation());
    assertTrue(pod.getVolumes().stream().noneMatch(v -> v.getHostPath() != null
        && v.getHostPath().getPath().startsWith("/var/lib/kubelet")));
  }

  /**
   * Every sidecar serves its --http-endpoint, and a liveness probe checks it there: the
   * kubelet restarts a sidecar that hangs instead of leaving a node that provisions nothing.
   * livenessprobe's --health-port is deprecated upstream; the registrar's /healthz fails while
   * the kubelet has not accepted its registration.
   */
  @ParameterizedTest
  @ValueSource(strings = {"", "lvmthin.yaml", "pve-interop.yaml"})
  void everySidecarServesItsHttpEndpointAndIsProbedThere(String valuesFile) {
    List<HasMetadata> objects = render(valuesFile);
    Map<String, String> paths = Map.of("csi-provisioner", "/metrics", "csi-snapshotter", "/metrics",
        "node-driver-registrar", "/healthz", "csi-resizer", "/healthz/leader-election");
    for (var pod : List.of(only(objects, DaemonSet.class).getSpec().getTemplate().getSpec(),
        only(objects, Deployment.class).getSpec().getTemplate().getSpec())) {
      Set<Integer> ports = new HashSet<>();
      for (Container c : pod.getContainers()) {
        for (var port : c.getPorts() == null ? List.<ContainerPort>of()
            : c.getPorts()) {
          assertTrue(ports.add(port.getContainerPort()), "port " + port + " used twice in a pod");
        }
        assertTrue(c.getArgs().stream().noneMatch(a -> a.startsWith("--health-port")), c.getName());
        if (c.getName().equals("driver")) {
          continue;
        }
        String endpoint = c.getArgs().stream().filter(a -> a.startsWith("--http-endpoint=:"))
            .findFirst().orElseThrow(() -> new AssertionError(c.getName() + " has no --http-endpoint"));
        int port = Integer.parseInt(endpoint.substring("--http-endpoint=:".length()));
        if (c.getName().equals("liveness-probe")) {
          // Its /healthz calls the driver's Probe; the driver container's liveness probe uses it.
          Container driver = container(pod.getContainers(), "driver");
          assertEquals("/healthz", driver.getLivenessProbe().getHttpGet().getPath());
          assertEquals(port, portNumber(pod.getContainers(), driver.getLivenessProbe().getHttpGet()
              .getPort().getStrVal()));
          continue;
        }
        var probe = c.getLivenessProbe();
        assertNotNull(probe, c.getName() + " has no liveness probe");
        assertEquals(paths.get(c.getName()), probe.getHttpGet().getPath(), c.getName());
        assertEquals(port, portNumber(List.of(c), probe.getHttpGet().getPort().getStrVal()),
            c.getName() + " is probed on the port its --http-endpoint serves");
      }
    }
  }

  private static int portNumber(List<Container> containers, String name) {
    return containers.stream().flatMap(c -> c.getPorts() == null ? Stream.empty()
        : c.getPorts().stream()).filter(p -> name.equals(p.getName())).findFirst()
        .orElseThrow(() -> new AssertionError("no port named " + name)).getContainerPort();
  }

  /**
   * The kubelet's kill must not come before the driver's own shutdown grace ends, and on the
   * node it should wait for a storage command, which the driver never kills (docs/data-safety.md).
   */
  @Test
  void terminationGraceCoversTheDriversShutdownGrace() {
    List<HasMetadata> objects = render("");
    var node = only(objects, DaemonSet.class).getSpec().getTemplate().getSpec();
    var controller = only(objects, Deployment.class).getSpec().getTemplate().getSpec();
    assertTrue(container(node.getContainers(), "driver").getArgs().contains("--shutdown-grace=30s"));
    assertTrue(container(controller.getContainers(), "driver").getArgs().contains("--shutdown-grace=30s"));
    assertEquals(600L, node.getTerminationGracePeriodSeconds(), "room for a slow lvm or zfs command");
    assertTrue(controller.getTerminationGracePeriodSeconds() >= 30);

    Exception tooShort = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("node.terminationGracePeriodSeconds", "20").call());
    assertTrue(tooShort.getMessage().contains("node.terminationGracePeriodSeconds (20) is shorter "
        + "than driver.shutdownGrace (30s)"), tooShort.getMessage());
    Exception minutes = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("driver.shutdownGrace", "2m").call());
    assertTrue(minutes.getMessage().contains("controller.terminationGracePeriodSeconds (60)"),
        minutes.getMessage());
    var longer = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("driver.shutdownGrace", "1m");
    assertEquals(60L, only(parse(longer.call()), Deployment.class).getSpec().getTemplate().getSpec()
        .getTerminationGracePeriodSeconds(), "equal is enough");
  }

  @Test
  void imageFromRegistryRepositoryTagAndDigest() {
    String digest = "sha256:" + "0123456789abcdef".repeat(4);
    assertEquals("ghcr.io/pve-storage-csi/pve-storage-csi:0.1.0", container(only(render(""),
        DaemonSet.class).getSpec().getTemplate().getSpec().getContainers(), "driver").getImage());
    var pinned = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("image.registry", "registry.example.com:5000")
        .set("image.repository", "storage/pve-storage-csi").set("image.tag", "0.2.0")
        .set("image.digest", digest);
    List<HasMetadata> objects = parse(pinned.call());
    String expected = "registry.example.com:5000/storage/pve-storage-csi:0.2.0@" + digest;
    assertEquals(expected, container(only(objects, DaemonSet.class).getSpec().getTemplate().getSpec()
        .getContainers(), "driver").getImage());
    assertEquals(expected, container(only(objects, Deployment.class).getSpec().getTemplate()
        .getSpec().getContainers(), "driver").getImage());
    var local = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("image.registry", "").set("image.repository", "pve-storage-csi");
    assertEquals("pve-storage-csi:0.1.0", container(only(parse(local.call()), DaemonSet.class)
        .getSpec().getTemplate().getSpec().getContainers(), "driver").getImage());

    Exception hostTwice = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("image.repository", "registry.example.com/storage/pve-storage-csi")
        .call());
    assertTrue(hostTwice.getMessage().contains("set image.registry"), hostTwice.getMessage());
    Exception badDigest = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("image.digest", "latest").call());
    assertTrue(badDigest.getMessage().contains("digest"), badDigest.getMessage());
  }

  @Test
  void podsRunOnLinuxNodesAndTheProxmoxExampleOnProxmoxHostsOnly() throws Exception {
    List<HasMetadata> defaults = render("");
    assertEquals(Map.of("kubernetes.io/os", "linux"), only(defaults, DaemonSet.class).getSpec()
        .getTemplate().getSpec().getNodeSelector());
    assertEquals(Map.of("kubernetes.io/os", "linux"), only(defaults, Deployment.class).getSpec()
        .getTemplate().getSpec().getNodeSelector());
    var proxmox = only(render("../../../../charts/pve-storage-csi/examples/proxmox-host.yaml"),
        DaemonSet.class).getSpec().getTemplate().getSpec().getNodeSelector();
    assertEquals("true", proxmox.get("pve-storage.csi.io/proxmox-host"));
    assertEquals("linux", proxmox.get("kubernetes.io/os"));
    // The label is documented where operators read: the example's own comment and the README.
    assertTrue(java.nio.file.Files.readString(CHART.resolve("examples/proxmox-host.yaml"))
        .contains("kubectl label node <pve-host> pve-storage.csi.io/proxmox-host=true"));
    assertTrue(java.nio.file.Files.readString(CHART.resolve("README.md"))
        .contains("pve-storage.csi.io/proxmox-host=true"));
  }

  @Test
  void storageClassesCarryTheFieldsOperatorsSet() {
    List<HasMetadata> objects = render("storage-classes.yaml");
    Map<String, StorageClass> classes = objects.stream().filter(StorageClass.class::isInstance)
        .map(StorageClass.class::cast).collect(Collectors.toMap(c -> c.getMetadata().getName(), c -> c));
    StorageClass xfs = classes.get("fast-xfs");
    assertEquals("Retain", xfs.getReclaimPolicy());
    assertFalse(xfs.getAllowVolumeExpansion());
    assertEquals(List.of("noatime"), xfs.getMountOptions());
    assertEquals("xfs", xfs.getParameters().get("csi.storage.k8s.io/fstype"));
    var expression = xfs.getAllowedTopologies().getFirst().getMatchLabelExpressions().getFirst();
    assertEquals(io.csi.pvestorage.csi.ControllerService.TOPOLOGY_KEY, expression.getKey());
    assertEquals(List.of("pve1", "pve2"), expression.getValues());
    StorageClass datasets = classes.get("datasets");
    assertEquals("zfs", datasets.getParameters().get("csi.storage.k8s.io/fstype"));
    assertEquals("1", datasets.getParameters().get("sparse"));
    assertTrue(datasets.getAllowVolumeExpansion(), "expansion stays the default");
    assertEquals("Delete", datasets.getReclaimPolicy());
    assertTrue(datasets.getAllowedTopologies() == null || datasets.getAllowedTopologies().isEmpty());
    var snapshotClass = objects.stream().filter(o -> o.getKind().equals("VolumeSnapshotClass"))
        .map(GenericKubernetesResource.class::cast).findFirst().orElseThrow();
    assertEquals("Retain", snapshotClass.getAdditionalProperties().get("deletionPolicy"));
    assertEquals(null, snapshotClass.getAdditionalProperties().get("parameters"),
        "the driver refuses every VolumeSnapshotClass parameter");

    Exception zfsOnLvm = assertThrows(Exception.class, () -> render("bad-zfs-on-lvmthin.yaml"));
    assertTrue(zfsOnLvm.getMessage().contains("fsType zfs (a ZFS dataset) on the lvmthin storage"),
        zfsOnLvm.getMessage());
  }

  @Test
  void serviceMonitorAndPodMonitorAreMutuallyExclusive() {
    Exception both = assertThrows(Exception.class, () -> render("bad-both-monitors.yaml"));
    assertTrue(both.getMessage().contains("enable one of them"), both.getMessage());
    List<HasMetadata> one = render("pve-interop.yaml");
    assertEquals(1, one.stream().filter(o -> o.getKind().equals("ServiceMonitor")).count());
    assertEquals(0, one.stream().filter(o -> o.getKind().equals("PodMonitor")).count());
  }

  /** Every key in values.yaml has a "# --" comment right above it, and a place in the schema. */
  @Test
  void everyValueIsDocumentedAndInTheSchema() throws Exception {
    List<String> lines = java.nio.file.Files.readAllLines(CHART.resolve("values.yaml"));
    String schema = java.nio.file.Files.readString(CHART.resolve("values.schema.json"));
    List<String> undocumented = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      var m = java.util.regex.Pattern.compile("^(\\s*)(- )?([A-Za-z][\\w-]*):").matcher(line);
      if (!m.find() || line.trim().startsWith("#")) {
        continue;
      }
      boolean insideFreeForm = m.group(1).length() > 0 && isUnderFreeFormKey(lines, i, m.group(1).length());
      if (insideFreeForm) {
        continue;
      }
      String above = i > 0 ? lines.get(i - 1).trim() : "";
      if (!above.startsWith("# --") && !(m.group(2) == null && above.startsWith("- # --"))) {
        undocumented.add((i + 1) + ": " + line);
      }
      if (!schema.contains("\"" + m.group(3) + "\"")) {
        undocumented.add((i + 1) + ": not in values.schema.json: " + m.group(3));
      }
    }
    assertTrue(undocumented.isEmpty(), String.join("\n", undocumented));
  }

  /** Keys below resources, storages, tolerations and updateStrategy are data, not values. */
  private static boolean isUnderFreeFormKey(List<String> lines, int index, int indent) {
    for (int j = index - 1; j >= 0; j--) {
      String l = lines.get(j);
      if (l.isBlank() || l.trim().startsWith("#")) {
        continue;
      }
      int li = l.length() - l.stripLeading().length();
      if (li < indent) {
        String key = l.trim().replaceFirst("^- ", "").replaceFirst(":.*", "");
        if (Set.of("resources", "keys", "tolerations", "updateStrategy", "storages").contains(key)) {
          return true;
        }
        indent = li;
      }
    }
    return false;
  }

  /**
   * Issue 17: the orphan check runs by default every 10 minutes and only reports; its read-only
   * rules (get and list on PVs and contents, no watch) and its Events come with it and go when
   * it is turned off; clean-up is a value of its own, refused without the check.
   */
  @Test
  void theOrphanCheckReportsByDefaultAndItsRulesComeAndGoWithIt() {
    List<HasMetadata> defaults = render("");
    List<String> args = container(only(defaults, DaemonSet.class).getSpec().getTemplate().getSpec()
        .getContainers(), "driver").getArgs();
    assertTrue(args.containsAll(List.of("--orphan-check-interval=10m", "--orphan-grace=1h")),
        args.toString());
    assertTrue(args.stream().noneMatch(a -> a.startsWith("--orphan-cleanup")), "off by default");
    assertTrue(driverOwnRules(defaults).containsAll(List.of("persistentvolumes get list",
        "volumesnapshotcontents get list", "events create patch")), driverOwnRules(defaults)
        .toString());

    var off = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("orphans.interval", "0s");
    List<HasMetadata> withoutCheck = parse(off.call());
    assertEquals(List.of(), driverOwnRules(withoutCheck));
    assertEquals(List.of(), SidecarRbac.drift(SidecarRbac.load(), withoutCheck));

    var cleanup = new Helm(CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("orphans.cleanup", "true").set("orphans.grace", "24h");
    List<String> cleanupArgs = container(only(parse(cleanup.call()), DaemonSet.class).getSpec()
        .getTemplate().getSpec().getContainers(), "driver").getArgs();
    assertTrue(cleanupArgs.containsAll(List.of("--orphan-cleanup=true", "--orphan-grace=24h")),
        cleanupArgs.toString());

    Exception refused = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("orphans.interval", "0s").set("orphans.cleanup", "true")
        .call());
    assertTrue(refused.getMessage().contains("orphans.cleanup needs the orphan check"),
        refused.getMessage());
    Exception badGrace = assertThrows(Exception.class, () -> new Helm(CHART).template()
        .withKubeVersion("1.34.0").set("orphans.grace", "soon").call());
    assertTrue(badGrace.getMessage().contains("orphans"), badGrace.getMessage());
  }

  /** The node ClusterRole's rules of exactly two verbs {@code get list} or {@code create patch}. */
  private static List<String> driverOwnRules(List<HasMetadata> objects) {
    ClusterRole node = objects.stream()
        .filter(o -> o instanceof ClusterRole && o.getMetadata().getName().endsWith("-node"))
        .map(ClusterRole.class::cast).findFirst().orElseThrow();
    return node.getRules().stream()
        .filter(r -> r.getVerbs().equals(List.of("get", "list"))
            || r.getVerbs().equals(List.of("create", "patch")))
        .map(r -> String.join(",", r.getResources()) + " " + String.join(" ", r.getVerbs()))
        .toList();
  }

  private static List<HasMetadata> render(String valuesFile) {
    return RenderedChart.render(Path.of("."), "pve", "storage",
        valuesFile.isEmpty() ? List.of() : List.of(VALUES.resolve(valuesFile))).objects();
  }

  private static List<HasMetadata> parse(String yaml) {
    return RenderedChart.parse(yaml);
  }

  private static <T> T only(List<HasMetadata> objects, Class<T> type) {
    List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
    assertEquals(1, found.size(), type.getSimpleName());
    return found.getFirst();
  }

  private static Container container(List<Container> containers, String name) {
    return containers.stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
  }
}
