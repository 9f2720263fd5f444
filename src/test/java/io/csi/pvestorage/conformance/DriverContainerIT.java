package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.IdentityGrpc;
import csi.v1.ProbeRequest;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.ContainerImage;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.ImageFacts;
import io.csi.pvestorage.harness.PodContainer;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The driver's image under runc in the guest with the node DaemonSet's settings, for what the
 * lifecycle cases do not show: the built archive is laid out as the image's facts say; with the
 * chart's defaults the start-up tool check passes for real and lvcreate through the chart's
 * command prefix finishes in seconds; with the prefix the chart had before (the host's mount
 * namespace alone), the tool check refuses readiness and lvcreate waits on a udev cookie in the
 * pod's IPC namespace until it is killed.
 */
@ExtendWith(VmHarnessExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
@ResourceLock(GuestResources.ZPOOL)
class DriverContainerIT {

  private static final Path PROJECT =
      Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
  private static final Path OLD_PREFIX = Path.of("src/test/resources/container/old-prefix.yaml");
  /** An lvcreate of a thin LV takes seconds under TCG; far more means it is waiting. */
  private static final Duration LVCREATE_BOUND = Duration.ofSeconds(40);
  private static final Duration STEP = Duration.ofSeconds(60);
  private static final Pattern TOOL_GAUGE =
      Pattern.compile("(?m)^pve_csi_tool_ok\\{backend=\"(\\w+)\",node=\"[^\"]+\","
          + "tool=\"([\\w.-]+)\"} (\\S+)$");

  @Test
  void theBuiltImageIsLaidOutAsItsFactsSay() throws Exception {
    ContainerImage image = ContainerImage.obtain(PROJECT);
    ImageFacts facts = ImageFacts.load(PROJECT);
    System.out.printf("image %s: archive %d MiB, %d layers, built in %.1f s%n", image.tag(),
        Files.size(image.archive()) >> 20, image.layers(), image.buildTime().toMillis() / 1000.0);

    var config = image.runtimeConfig();
    assertEquals(facts.jsonArray("entrypoint"), config.entrypoint());
    assertEquals(facts.jsonArray("cmd"), config.cmd());
    assertEquals(facts.get("workdir"), config.workingDir());
    assertEquals(facts.get("user"), image.config().path("User").asText());
    Map<String, String> env = new TreeMap<>();
    config.env().forEach(e -> env.put(e.substring(0, e.indexOf('=')), e.substring(e.indexOf('=') + 1)));
    assertEquals(facts.withPrefix("env."), env);
    Map<String, String> labels = new TreeMap<>(image.labels());
    assertFalse(labels.remove("org.opencontainers.image.version").isBlank());
    assertEquals(facts.withPrefix("label."), labels);

    Path rootfs = image.unpackedRootfs();
    Path jar = inImage(rootfs, facts.get("app.jar"));
    assertEquals(Files.size(PROJECT.resolve("target/pve-storage-csi.jar")), Files.size(jar));
    assertEquals(Files.readString(PROJECT.resolve("src/main/jvm/jvm.options")),
        Files.readString(inImage(rootfs, facts.get("app.jvmOptions"))));
    assertTrue(Files.size(inImage(rootfs, facts.get("app.cds"))) > 1 << 20, "a CDS archive");
    try (Stream<Path> libs = Files.list(inImage(rootfs, facts.get("app.lib")));
        Stream<Path> built = Files.list(PROJECT.resolve("target/lib"))) {
      assertEquals(built.map(p -> p.getFileName().toString()).sorted().toList(),
          libs.map(p -> p.getFileName().toString()).sorted().toList());
    }
    Process modules = new ProcessBuilder(
        inImage(rootfs, facts.get("java.home") + "/bin/java").toString(), "--list-modules").start();
    String listed = new String(modules.getInputStream().readAllBytes());
    assertTrue(modules.waitFor(60, TimeUnit.SECONDS));
    for (String module : facts.commaList("java.modules")) {
      assertTrue(listed.contains(module + "@"), "the runtime has " + module + ": " + listed);
    }
    List<String> path = Arrays.asList(facts.get("env.PATH").split(":"));
    for (String tool : List.of("nsenter", "lvm", "zfs", "zpool", "mkfs.ext4", "mkfs.xfs", "mount",
        "findmnt", "blkid", "udevadm", "dmsetup")) {
      assertTrue(path.stream().anyMatch(dir -> Files.exists(inImage(rootfs, dir + "/" + tool),
          LinkOption.NOFOLLOW_LINKS)), tool + " in the image's PATH");
    }
  }

  /** A path of the image, inside its unpacked root (never the host's). */
  private static Path inImage(Path rootfs, String absolute) {
    return rootfs.resolve(absolute.substring(1));
  }

  @Test
  void withTheChartsDefaultsTheToolCheckPassesAndLvcreateDoesNotWaitForUdev(VmHarness vm)
      throws Exception {
    List<String> before = ConformanceBase.pools(vm.runner());
    try (GuestDriver driver = GuestDriver.startInContainer(vm, 10_901, List.of())) {
      ContainerDriver container = (ContainerDriver) driver.process();
      PodContainer pod = container.pod();
      assertTrue(driver.log().contains("storage tools checked in"), driver.log());
      Map<String, String> gauges = toolGauges(driver.scrapeMetrics());
      assertEquals(14, gauges.size(), "every tool of LVM-thin and ZFS: " + gauges);
      gauges.forEach((series, value) -> assertEquals("1.0", value, series));

      // The pod keeps its own IPC and UTS namespaces; the prefix runs commands in the node's.
      List<String> prefix = commandPrefix(container);
      GuestCommandRunner guest = vm.runner();
      String nodeIpc = must(guest, List.of("readlink", "/proc/1/ns/ipc")).stdoutText().strip();
      assertNotEquals(nodeIpc, exec(pod, List.of("readlink", "/proc/self/ns/ipc")).strip(),
          "hostIPC is off");
      assertEquals(nodeIpc, exec(pod, concat(prefix, "readlink", "/proc/self/ns/ipc")).strip());
      assertEquals(pod.facts().podName(), exec(pod, List.of("hostname")).strip());
      assertEquals(must(guest, List.of("hostname")).stdoutText().strip(),
          exec(pod, concat(prefix, "hostname")).strip(), "LVM records the node's host name");

      String inGuest = "udev-guest-" + UUID.randomUUID().toString().substring(0, 8);
      String inPod = "udev-pod-" + UUID.randomUUID().toString().substring(0, 8);
      CommandResult direct = must(guest, lvcreate(inGuest));
      CommandResult prefixed = pod.exec(LVCREATE_BOUND, concat(prefix, lvcreate(inPod).toArray(String[]::new)));
      System.out.printf("lvcreate of a thin LV: %d ms in the guest, %d ms from the container "
          + "through the chart's prefix (%s)%n", direct.duration().toMillis(),
          prefixed.duration().toMillis(), String.join(" ", prefix));
      assertEquals(0, prefixed.exitCode(), prefixed.stderrText());
      assertTrue(prefixed.duration().compareTo(LVCREATE_BOUND) < 0);
      must(guest, List.of("lvremove", "-y", "pve/" + inGuest, "pve/" + inPod));
    }
    assertEquals(before, ConformanceBase.pools(vm.runner()));
  }

  @Test
  void theOldPrefixIsRefusedAtStartAndItsLvcreateWaitsForAUdevCookieInThePodsIpcNamespace(
      VmHarness vm) throws Exception {
    List<String> before = ConformanceBase.pools(vm.runner());
    KubernetesMockServer apiServer = GuestDriver.startApiServer();
    ContainerDriver container = ContainerDriver.start(vm, 10_902, apiServer.getPort(),
        List.of(OLD_PREFIX));
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", container.hostPort())
        .usePlaintext().build();
    String name = "udev-old-" + UUID.randomUUID().toString().substring(0, 8);
    CommandResult vgBefore = must(vm.runner(), List.of("vgs", "--noheadings", "-o", "lv_count",
        VmHarness.VG));
    try {
      PodContainer pod = container.pod();
      List<String> prefix = commandPrefix(container);
      assertEquals(List.of("nsenter", "--mount=/proc/1/ns/mnt", "--"), prefix);

      String problem = awaitLog(container, Pattern.compile(
          "not ready until the storage tools are fixed[^:]*: .*(lvm would run through the command "
              + "prefix 'nsenter --mount=/proc/1/ns/mnt --' in the IPC namespace [^;]*)"));
      System.out.println("start-up check with the old prefix: " + problem);
      assertFalse(IdentityGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
          .probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
      String metrics = must(vm.runner(), pod.inPodNetwork(List.of("python3", "-c",
          "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], "
              + "timeout=30).read().decode())", "http://127.0.0.1:" + GuestDriver.METRICS_PORT
              + "/metrics"))).stdoutText();
      assertEquals("0.0", toolGauges(metrics).get("lvmthin/ipc-namespace"), metrics);

      // The control: lvcreate in the pod's IPC namespace, bounded by timeout(1) in the container.
      // A linear LV, not a thin one: killing a thin lvcreate while it waits leaves the thin
      // pool half activated (seen: "Activation of logical volume pve/data is prohibited while
      // logical volume pve/data_tmeta is active"), which would break every later test in the
      // guest; a linear LV is only left active and is removed below.
      List<String> control = new ArrayList<>(List.of("timeout", "-s", "KILL",
          Long.toString(LVCREATE_BOUND.toSeconds())));
      control.addAll(prefix);
      control.addAll(List.of("lvcreate", "-y", "-L", "8m", "-n", name, VmHarness.VG));
      CommandResult hung = pod.exec(LVCREATE_BOUND.plus(STEP), control);
      String cookies = exec(pod, List.of("dmsetup", "udevcookies"));
      System.out.printf("lvcreate through the old prefix: killed after %d ms (exit %d); the "
          + "pod's IPC namespace still holds its udev cookie:%n%s%n", hung.duration().toMillis(),
          hung.exitCode(), cookies.strip());
      assertEquals(128 + 9, hung.exitCode(), "timeout killed it: " + hung.stderrText());
      assertTrue(hung.duration().compareTo(LVCREATE_BOUND) >= 0);
      assertTrue(cookies.lines().anyMatch(l -> l.matches("0x[0-9a-f]+\\s+\\d+.*")),
          "a cookie waits in the pod's IPC namespace: " + cookies);
      assertFalse(must(vm.runner(), List.of("dmsetup", "udevcookies")).stdoutText().lines()
          .anyMatch(l -> l.startsWith("0x")), "none in the node's, where udev completed nothing");
    } finally {
      channel.shutdownNow();
      container.stop();
      apiServer.destroy();
      if (vm.runner().run(Command.of(STEP, "lvs", VmHarness.VG + "/" + name)).exitCode() == 0) {
        must(vm.runner(), List.of("lvremove", "-y", VmHarness.VG + "/" + name));
      }
    }
    assertEquals(before, ConformanceBase.pools(vm.runner()));
    assertEquals(vgBefore.stdoutText(), must(vm.runner(), List.of("vgs", "--noheadings", "-o",
        "lv_count", VmHarness.VG)).stdoutText(), "the VG as it was; the thin pool still works:");
    String probe = "udev-after-" + UUID.randomUUID().toString().substring(0, 8);
    must(vm.runner(), lvcreate(probe));
    must(vm.runner(), List.of("lvremove", "-y", VmHarness.VG + "/" + probe));
  }

  private static List<String> lvcreate(String name) {
    return List.of("lvcreate", "-y", "-V", "64m", "-T", VmHarness.VG + "/" + VmHarness.THIN_POOL,
        "-n", name);
  }

  /** The prefix words of the driver's rendered {@code --command-prefix=} argument. */
  private static List<String> commandPrefix(ContainerDriver container) {
    String arg = container.spec().getArgs().stream().filter(a -> a.startsWith("--command-prefix="))
        .findFirst().orElseThrow();
    return List.of(arg.substring("--command-prefix=".length()).split(" "));
  }

  /** {@code tool check} gauges by "backend/tool". */
  private static Map<String, String> toolGauges(String metrics) {
    Map<String, String> gauges = new TreeMap<>();
    Matcher m = TOOL_GAUGE.matcher(metrics);
    while (m.find()) {
      gauges.put(m.group(1) + "/" + m.group(2), m.group(3));
    }
    return gauges;
  }

  private static String awaitLog(ContainerDriver container, Pattern pattern) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (System.nanoTime() < end) {
      Matcher m = pattern.matcher(container.log());
      if (m.find()) {
        return m.group(1);
      }
      assertTrue(container.isAlive(), "the container exited:\n" + container.log());
      Thread.sleep(1000);
    }
    throw new AssertionError("no line matching " + pattern + " in:\n" + container.log());
  }

  private static String exec(PodContainer pod, List<String> argv) {
    CommandResult result = pod.exec(STEP, argv);
    assertEquals(0, result.exitCode(), argv + ": " + result.stderrText());
    return result.stdoutText();
  }

  private static CommandResult must(GuestCommandRunner guest, List<String> argv) {
    return GuestDriver.must(guest, argv.toArray(String[]::new));
  }

  private static List<String> concat(List<String> prefix, String... argv) {
    List<String> all = new ArrayList<>(prefix);
    all.addAll(List.of(argv));
    return all;
  }
}
