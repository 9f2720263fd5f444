package io.csi.pvestorage.harness;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A qemu guest with real LVM-thin and real OpenZFS, for integration tests and fixture recording.
 *
 * <p>{@link #start(Config)} obtains the cached image ({@link VmImage}), boots it under TCG with
 * the root image read-only ({@code snapshot=on}) and two fresh sparse data disks, shares the
 * project directory and the host JDK read-only over 9p ({@code /mnt/project}, {@code /mnt/jdk}),
 * waits for the command agent, and builds the layout of a Proxmox VE host: volume group {@value
 * #VG} with thin pool {@value #THIN_POOL} (room left in the VG), and zpool {@value #ZPOOL} with
 * dataset {@value #ZFS_DATASET}. Commands run through {@link #runner()}; long-running guest
 * processes with a TCP port reachable from the host through {@link #startGuestProcess}.
 *
 * <p>{@link #close()} powers the guest off through the agent and kills qemu if it does not exit.
 * Run files (disks, sockets, console log) live under {@code target/vm-harness/}; the disks are
 * deleted on close unless {@code -Dharness.keep=true}.
 */
public final class VmHarness implements AutoCloseable {

  public static final String VG = "pve";
  public static final String THIN_POOL = "data";
  public static final String ZPOOL = "rpool";
  public static final String ZFS_DATASET = "rpool/data";
  /** The data disks as the guest sees them (virtio serial numbers, stable across boots). */
  public static final String LVM_DISK = "/dev/disk/by-id/virtio-pve-lvm";
  public static final String ZFS_DISK = "/dev/disk/by-id/virtio-pve-zfs";
  /** Where the shares appear in the guest. */
  public static final String GUEST_PROJECT = "/mnt/project";
  public static final String GUEST_JDK = "/mnt/jdk";

  /** A boot takes 12 s on an idle machine and was seen near 110 s on two cores shared by many builds. */
  private static final Duration BOOT_DEADLINE = Duration.ofSeconds(240);
  private static final Duration SETUP_TIMEOUT = Duration.ofSeconds(60);

  /**
   * What to boot.
   *
   * @param projectDir the project root (scripts, shared read-only as /mnt/project)
   * @param jdkDir a JDK shared read-only as /mnt/jdk
   * @param memoryMiB guest memory
   * @param cpus guest vCPUs
   * @param lvmDiskBytes size of the sparse disk holding VG pve
   * @param zfsDiskBytes size of the sparse disk holding rpool
   * @param keepDisks leave the data disks in target/ after close (for debugging)
   */
  public record Config(Path projectDir, Path jdkDir, int memoryMiB, int cpus,
      long lvmDiskBytes, long zfsDiskBytes, boolean keepDisks) {

    /** Defaults for tests: project from {@code project.basedir}, the JDK running the tests. */
    public static Config defaults() {
      Path project = Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath().normalize();
      return new Config(project, Path.of(System.getProperty("java.home")), 2048, 2,
          8L << 30, 8L << 30, Boolean.getBoolean("harness.keep"));
    }
  }

  private final Config config;
  private final VmImage image;
  private final Path runDir;
  private final Process qemu;
  private final AgentConnection agent;
  private final GuestCommandRunner runner;
  private final Duration bootTime;
  private Duration layoutTime = Duration.ZERO;
  private final Thread shutdownHook;
  private final List<GuestProcess> processes = new ArrayList<>();
  private boolean closed;

  private VmHarness(Config config, VmImage image, Path runDir, Process qemu, AgentConnection agent,
      Duration bootTime) {
    this.config = config;
    this.image = image;
    this.runDir = runDir;
    this.qemu = qemu;
    this.agent = agent;
    this.runner = new GuestCommandRunner(agent);
    this.bootTime = bootTime;
    this.shutdownHook = new Thread(qemu::destroyForcibly, "vm-harness-kill-qemu");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  /**
   * Builds or reuses the image, boots it and sets up the storage layout.
   *
   * @throws HarnessUnavailableException naming what is missing (qemu, the image, a guest that
   *     does not come up)
   */
  public static VmHarness start(Config config) {
    Path qemuBinary = findOnPath("qemu-system-x86_64");
    if (qemuBinary == null) {
      throw new HarnessUnavailableException(
          "qemu-system-x86_64 is not on PATH (Debian: apt-get install qemu-system-x86)");
    }
    if (!Files.isExecutable(config.jdkDir().resolve("bin/java"))) {
      throw new HarnessUnavailableException("no JDK to share with the guest at " + config.jdkDir());
    }
    VmImage image = VmImage.obtain(config.projectDir());
    log("image %s (key %s) in %.1f s", image.built() ? "built" : "cached", image.key(),
        seconds(image.elapsed()));

    Path runDir;
    try {
      String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
      runDir = Files.createDirectories(config.projectDir()
          .resolve("target/vm-harness/run-" + stamp + "-" + ProcessHandle.current().pid()));
      sparse(runDir.resolve("lvm.img"), config.lvmDiskBytes());
      sparse(runDir.resolve("zfs.img"), config.zfsDiskBytes());
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot prepare the run directory: " + e.getMessage(), e);
    }
    VmHarness harness = boot(qemuBinary, config, image, runDir);
    try {
      harness.setUpLayout();
    } catch (RuntimeException e) {
      harness.close();
      throw new HarnessUnavailableException("the storage layout could not be set up: "
          + (e instanceof StorageException s ? s.describe() : e.toString()), e);
    }
    return harness;
  }

  /**
   * Cuts the guest's power (qemu is killed, as a node loses power or is reset) and boots it
   * again on the same data disks: what a node's reboot is to its storage. Nothing is set up
   * after the boot: the VG and zpool are on the disks, and what a host does at boot
   * (autoactivation, pool import) is the caller's to do, as the test needs it. The root image is
   * a snapshot, so the guest's root file system starts again as built: directories, udev rules
   * and {@code /etc/zfs/zpool.cache} written before are gone. Call {@code sync} in the guest
   * first for a clean reboot; without it, what the guest had not written yet is lost, as in a
   * power failure.
   *
   * @return the harness of the new boot; this one is closed (its disks are kept for the new one)
   */
  public synchronized VmHarness powerCycle() {
    if (closed) {
      throw new IllegalStateException("the harness is closed");
    }
    closed = true;
    processes.clear(); // they die with the guest
    qemu.destroyForcibly();
    try {
      qemu.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while qemu stopped", e);
    }
    agent.close();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // already shutting down
    }
    log("power cut (qemu killed); booting again on the disks in %s", runDir);
    return boot(findOnPath("qemu-system-x86_64"), config, image, runDir);
  }

  /**
   * Starts qemu on the run directory's disks and waits for the guest agent. A qemu that dies
   * before the guest answers is started once more: qemu 7.2 was seen to segfault at start (the
   * kernel logged it; no output, no console line) when booting a power-cycled guest's disks
   * while another guest ran, and passed on every other boot; that crash is qemu's, not the
   * storage's under test. A second death fails with both exit codes.
   */
  private static VmHarness boot(Path qemuBinary, Config config, VmImage image, Path runDir) {
    try {
      return bootOnce(qemuBinary, config, image, runDir);
    } catch (QemuDied first) {
      log("qemu died at start; starting it once more. %s", first.getMessage());
      try {
        return bootOnce(qemuBinary, config, image, runDir);
      } catch (QemuDied second) {
        throw new HarnessUnavailableException("qemu died at start twice; the second time: "
            + second.getMessage(), second);
      }
    }
  }

  /** qemu exited before its guest agent answered. */
  private static final class QemuDied extends RuntimeException {
    QemuDied(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private static VmHarness bootOnce(Path qemuBinary, Config config, VmImage image, Path runDir) {
    Path sockets = socketDir(runDir);
    List<String> argv = qemuArgv(qemuBinary, config, image, runDir, sockets);
    long start = System.nanoTime();
    Process qemu;
    try {
      qemu = new ProcessBuilder(argv)
          .redirectErrorStream(true)
          .redirectOutput(runDir.resolve("qemu.log").toFile())
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot start qemu: " + e.getMessage(), e);
    }
    AgentConnection agent;
    try {
      agent = AgentConnection.connect(sockets.resolve("agent.sock"), BOOT_DEADLINE, qemu::isAlive);
    } catch (IOException | InterruptedException e) {
      boolean died = !qemu.isAlive();
      qemu.destroyForcibly();
      String message = "the guest did not come up: " + e.getMessage()
          + (died ? " (qemu exit code " + qemu.exitValue() + ")" : "")
          + "\n--- console (" + runDir.resolve("console.log") + ") ---\n" + tail(runDir.resolve("console.log"))
          + "\n--- qemu ---\n" + tail(runDir.resolve("qemu.log"));
      if (died && !(e instanceof InterruptedException)) {
        throw new QemuDied(message, e);
      }
      throw new HarnessUnavailableException(message, e);
    }
    Duration boot = Duration.ofNanos(System.nanoTime() - start);
    log("boot %.1f s (qemu start until the guest agent answers), run dir %s", seconds(boot), runDir);
    return new VmHarness(config, image, runDir, qemu, agent, boot);
  }

  private static List<String> qemuArgv(Path qemuBinary, Config config, VmImage image, Path runDir,
      Path sockets) {
    List<String> argv = new ArrayList<>(List.of(
        qemuBinary.toString(),
        "-nodefaults", "-display", "none", "-no-reboot",
        "-accel", "tcg,thread=multi", "-cpu", "max",
        "-smp", Integer.toString(config.cpus()), "-m", Integer.toString(config.memoryMiB()),
        "-kernel", image.kernel().toString(),
        "-initrd", image.initrd().toString(),
        "-append", "console=ttyS0 panic=-1 loglevel=4",
        "-serial", "file:" + runDir.resolve("console.log"),
        "-drive", "file=" + image.rootImage() + ",if=none,id=root,format=raw,snapshot=on",
        "-device", "virtio-blk-pci,drive=root",
        "-drive", "file=" + runDir.resolve("lvm.img") + ",if=none,id=lvm,format=raw,cache=unsafe",
        "-device", "virtio-blk-pci,drive=lvm,serial=pve-lvm",
        "-drive", "file=" + runDir.resolve("zfs.img") + ",if=none,id=zfs,format=raw,cache=unsafe",
        "-device", "virtio-blk-pci,drive=zfs,serial=pve-zfs",
        "-device", "virtio-rng-pci",
        "-device", "virtio-serial-pci",
        "-chardev", "socket,id=agent,path=" + sockets.resolve("agent.sock") + ",server=on,wait=off",
        "-device", "virtserialport,chardev=agent,name=agent",
        "-monitor", "unix:" + sockets.resolve("monitor.sock") + ",server=on,wait=off",
        "-netdev", "user,id=net0",
        "-device", "virtio-net-pci,netdev=net0",
        "-virtfs", "local,path=" + config.projectDir() + ",mount_tag=project,security_model=none,readonly=on",
        "-virtfs", "local,path=" + config.jdkDir().toAbsolutePath() + ",mount_tag=jdk,security_model=none,readonly=on"));
    return argv;
  }

  /** The VG/thin pool and zpool/dataset of a Proxmox VE host, set up concurrently. */
  private void setUpLayout() {
    long start = System.nanoTime();
    CompletableFuture<Void> lvm = CompletableFuture.runAsync(() -> {
      must("modprobe", "dm_thin_pool");
      must("pvcreate", "-y", LVM_DISK);
      must("vgcreate", VG, LVM_DISK);
      // 4 GiB of an 8 GiB VG: room left for pool growth and thick LVs, as on a real host.
      must("lvcreate", "-y", "--type", "thin-pool", "-L", "4G", "-n", THIN_POOL, VG);
    });
    CompletableFuture<Void> zfs = CompletableFuture.runAsync(() -> {
      must("modprobe", "zfs");
      must("zpool", "create", "-f", "-o", "ashift=12", "-O", "compression=lz4",
          "-O", "mountpoint=/" + ZPOOL, ZPOOL, ZFS_DISK);
      must("zfs", "create", ZFS_DATASET);
    });
    try {
      CompletableFuture.allOf(lvm, zfs).join();
    } catch (java.util.concurrent.CompletionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
    layoutTime = Duration.ofNanos(System.nanoTime() - start);
    log("layout %.1f s (VG %s with thin pool %s, zpool %s with %s)", seconds(layoutTime), VG,
        THIN_POOL, ZPOOL, ZFS_DATASET);
  }

  private CommandResult must(String... argv) {
    return runner.run(Command.of(SETUP_TIMEOUT, argv)).requireSuccess();
  }

  /** Runs commands in the guest; thread-safe. */
  public GuestCommandRunner runner() {
    return runner;
  }

  public VmImage image() {
    return image;
  }

  /** From qemu's start until the guest agent answered. */
  public Duration bootTime() {
    return bootTime;
  }

  /** How long the LVM and ZFS layout took to create. */
  public Duration layoutTime() {
    return layoutTime;
  }

  public Path runDir() {
    return runDir;
  }

  /** The project directory on the host, shared read-only as {@value #GUEST_PROJECT}. */
  public Path projectDir() {
    return config.projectDir();
  }

  /** Where a file of the project directory appears in the guest. */
  public String guestPath(Path projectFile) {
    Path relative = config.projectDir().relativize(projectFile.toAbsolutePath().normalize());
    if (relative.startsWith("..")) {
      throw new IllegalArgumentException(projectFile + " is outside the shared project directory");
    }
    return GUEST_PROJECT + "/" + relative;
  }

  /**
   * Starts a long-running process in the guest (e.g. the driver serving CSI), with its stdout
   * and stderr going to a log file in the guest, and forwards a free port on the host's
   * loopback to {@code guestPort} in the guest.
   *
   * @param argv the program and its arguments, run directly (no shell); {@value #GUEST_JDK}
   *     holds the host's JDK and {@value #GUEST_PROJECT} the project
   * @param environment extra environment ({@code LC_ALL=C} is always set)
   * @param guestPort the TCP port the process listens on in the guest (on 0.0.0.0)
   */
  public synchronized GuestProcess startGuestProcess(List<String> argv, Map<String, String> environment,
      int guestPort) {
    int hostPort = freeLoopbackPort();
    String reply = monitor("hostfwd_add net0 tcp:127.0.0.1:" + hostPort + "-:" + guestPort);
    if (reply.contains("Could not") || reply.contains("Error") || reply.contains("invalid")) {
      throw new IllegalStateException("qemu refused the port forward: " + reply.strip());
    }
    return spawn(argv, environment, hostPort, guestPort);
  }

  /**
   * Starts a long-running process in the guest as {@link #startGuestProcess(List, Map, int)}
   * does, without a port forward (a relay, a container runtime).
   */
  public synchronized GuestProcess startGuestProcess(List<String> argv, Map<String, String> environment) {
    return spawn(argv, environment, 0, 0);
  }

  private GuestProcess spawn(List<String> argv, Map<String, String> environment, int hostPort,
      int guestPort) {
    String log = "/tmp/guest-process-" + (processes.size() + 1) + ".log";
    List<String> env = new ArrayList<>();
    env.add("LC_ALL=C");
    environment.forEach((k, v) -> env.add(k + "=" + v));
    List<String> fields = await(agent.request("spawn", AgentConnection.encodeList(env),
        AgentConnection.encode(log), AgentConnection.encodeList(argv)), Duration.ofSeconds(30));
    if (!fields.get(0).equals("spawned")) {
      throw new IllegalStateException("cannot start " + argv + " in the guest: "
          + new String(AgentConnection.decode(fields.get(1)), StandardCharsets.UTF_8));
    }
    GuestProcess process = new GuestProcess(this, Integer.parseInt(fields.get(1)), hostPort,
        guestPort, log);
    processes.add(process);
    return process;
  }

  /** Sends a signal to a spawned process group. */
  void signal(int pid, int signal) {
    await(agent.request("signal", Integer.toString(pid), Integer.toString(signal)), Duration.ofSeconds(10));
  }

  /** Waits for a spawned process; its exit code, or -1 if still running after the timeout. */
  int waitFor(int pid, Duration timeout) {
    List<String> fields = await(agent.request("wait", Integer.toString(pid),
        Long.toString(timeout.toMillis())), timeout.plusSeconds(10));
    return fields.get(0).equals("exit") ? Integer.parseInt(fields.get(1)) : -1;
  }

  void removeForward(int hostPort) {
    monitor("hostfwd_remove net0 tcp:127.0.0.1:" + hostPort);
  }

  private static List<String> await(CompletableFuture<List<String>> future, Duration timeout) {
    try {
      return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (Exception e) {
      throw new IllegalStateException("the guest agent did not answer: " + e, e);
    }
  }

  /** One human-monitor command; returns what qemu printed before the next prompt. */
  private String monitor(String command) {
    try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      channel.connect(UnixDomainSocketAddress.of(socketDir(runDir).resolve("monitor.sock")));
      InputStream in = Channels.newInputStream(channel);
      OutputStream out = Channels.newOutputStream(channel);
      readUntilPrompt(in);
      out.write((command + "\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      return readUntilPrompt(in);
    } catch (IOException e) {
      throw new IllegalStateException("qemu monitor: " + e.getMessage(), e);
    }
  }

  private static String readUntilPrompt(InputStream in) throws IOException {
    StringBuilder text = new StringBuilder();
    int c;
    while ((c = in.read()) >= 0) {
      text.append((char) c);
      if (text.toString().endsWith("(qemu) ")) {
        return text.substring(0, text.length() - "(qemu) ".length());
      }
    }
    throw new IOException("monitor closed; got: " + text);
  }

  /** Powers the guest off, waits for qemu, kills it if it hangs; deletes the data disks. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (GuestProcess process : List.copyOf(processes)) {
      try {
        process.stop();
      } catch (RuntimeException e) {
        log("could not stop guest process %d: %s", process.pid(), e.getMessage());
      }
    }
    long start = System.nanoTime();
    try {
      agent.request("poweroff").get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      log("poweroff request failed (%s); qemu will be killed", e.getMessage());
    }
    try {
      if (!qemu.waitFor(15, TimeUnit.SECONDS)) {
        log("qemu did not exit after poweroff; killing it");
        qemu.destroy();
        if (!qemu.waitFor(5, TimeUnit.SECONDS)) {
          qemu.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
      }
    } catch (InterruptedException e) {
      qemu.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    agent.close();
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException e) {
      // already shutting down; the hook runs and is harmless
    }
    log("shut down in %.1f s", seconds(Duration.ofNanos(System.nanoTime() - start)));
    if (!config.keepDisks()) {
      try {
        Files.deleteIfExists(runDir.resolve("lvm.img"));
        Files.deleteIfExists(runDir.resolve("zfs.img"));
      } catch (IOException e) {
        log("cannot delete the data disks in %s: %s", runDir, e.getMessage());
      }
    }
  }

  // ---------------------------------------------------------------------------------------

  static Path findOnPath(String program) {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path candidate = Path.of(dir, program);
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }

  /** Unix socket paths are limited to 107 bytes; a deep checkout gets its sockets in /tmp. */
  private static Path socketDir(Path runDir) {
    if (runDir.resolve("monitor.sock").toString().length() < 100) {
      return runDir;
    }
    try {
      Path link = runDir.resolve("sockets");
      if (Files.isSymbolicLink(link)) {
        return Files.readSymbolicLink(link);
      }
      Path dir = Files.createTempDirectory("vm-harness-");
      Files.createSymbolicLink(link, dir);
      return dir;
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot create a socket directory: " + e.getMessage(), e);
    }
  }

  private static void sparse(Path file, long bytes) throws IOException {
    Files.deleteIfExists(file);
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.setLength(bytes);
    }
  }

  private static int freeLoopbackPort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException("no free port on the loopback interface", e);
    }
  }

  private static String tail(Path file) {
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(" + file + " unreadable: " + e.getMessage() + ")";
    }
  }

  static double seconds(Duration duration) {
    return duration.toMillis() / 1000.0;
  }

  static void log(String format, Object... args) {
    System.out.println("vm harness: " + String.format(Locale.ROOT, format, args));
  }
}
