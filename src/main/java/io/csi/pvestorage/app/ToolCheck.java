package io.csi.pvestorage.app;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The start-up check of the tools the driver will run for the storages of this node. Each tool
 * runs once, printing its version, through the driver's own command runner, and so through the
 * command prefix that puts lvm, zfs and mount into the host's namespaces, exactly as the storage
 * calls will run them. A tool that cannot be run or prints no version it can read fails the
 * check, and so does a ZFS userland whose feature release differs from the loaded kernel
 * module's ({@code zfs version} prints both): the ioctl interface between them changes between
 * feature releases, so a mismatch fails in ways no error message explains. Each failure names
 * what to fix. Only the tools of the configured storage types are checked; the driver reports
 * not ready while the check fails, and {@code pve_csi_tool_ok{tool,backend}} shows each one.
 *
 * <p>The commands run one after another, which keeps the order of a scripted test fixed; on a
 * node each answers within milliseconds.
 */
final class ToolCheck {

  static final String LVMTHIN = "lvmthin";
  static final String ZFSPOOL = "zfspool";
  private static final Set<String> BOTH = Set.of(LVMTHIN, ZFSPOOL);

  /** The Micrometer name of {@code pve_csi_tool_ok}. */
  static final String METER = "pve.csi.tool.ok";

  /** What "not found" looks like through a prefix: nsenter and env exit 127 when exec fails. */
  private static final int EXEC_NOT_FOUND = 127;

  /** Exists while udev runs (what libudev, and so LVM, asks). */
  private static final String UDEV_CONTROL = "/run/udev/control";

  private static final Pattern PID1_IPC = Pattern.compile("'/proc/1/ns/ipc' -> '(ipc:\\[\\d+])'");

  private static final Pattern UTIL_LINUX = Pattern.compile("util-linux (\\d[^\\s,)]*)");

  /**
   * A tool: the argv that prints its version, the package that ships it, how to read the
   * version from the output, and the storage types whose calls run it.
   */
  enum Tool {
    LVM(List.of("lvm", "version"), "lvm2", Pattern.compile("LVM version:\\s*(\\d\\S*)"), Set.of(LVMTHIN)),
    /**
     * Not a tool but where lvm runs: its IPC namespace against that of PID 1, and whether udev
     * runs there (LVM waits for udev only then).
     */
    IPC_NAMESPACE(List.of("stat", "-c", "%N", "/proc/self/ns/ipc", "/proc/1/ns/ipc", UDEV_CONTROL),
        "coreutils", Pattern.compile("'/proc/self/ns/ipc' -> '(ipc:\\[\\d+])'"), Set.of(LVMTHIN)),
    ZFS(List.of("zfs", "version"), "zfsutils-linux",
        Pattern.compile("^zfs-(\\d\\S*)$", Pattern.MULTILINE), Set.of(ZFSPOOL)),
    UDEVADM(List.of("udevadm", "--version"), "udev",
        Pattern.compile("^(\\d+)\\s*$", Pattern.MULTILINE), Set.of(ZFSPOOL)),
    MKFS_EXT4(List.of("mkfs.ext4", "-V"), "e2fsprogs", Pattern.compile("mke2fs (\\d\\S*)"), BOTH),
    MKFS_XFS(List.of("mkfs.xfs", "-V"), "xfsprogs",
        Pattern.compile("mkfs\\.xfs version (\\d\\S*)"), BOTH),
    MOUNT(List.of("mount", "--version"), "mount (util-linux)", UTIL_LINUX, BOTH),
    FINDMNT(List.of("findmnt", "--version"), "util-linux", UTIL_LINUX, BOTH),
    BLKID(List.of("blkid", "-V"), "util-linux", UTIL_LINUX, BOTH);

    private final List<String> argv;
    private final String packageName;
    private final Pattern version;
    private final Set<String> storageTypes;

    Tool(List<String> argv, String packageName, Pattern version, Set<String> storageTypes) {
      this.argv = argv;
      this.packageName = packageName;
      this.version = version;
      this.storageTypes = storageTypes;
    }

    /** The program's name, the {@code tool} label. */
    String program() {
      return this == IPC_NAMESPACE ? "ipc-namespace" : argv.get(0);
    }

    List<String> argv() {
      return argv;
    }
  }

  /** What the check found for one tool: its version, or the problem and how to fix it. */
  record Finding(Tool tool, String version, String problem) {
    boolean ok() {
      return problem == null;
    }
  }

  /** All findings, in the order the tools ran. */
  record Report(List<Finding> findings, Duration took) {
    boolean ok() {
      return findings.stream().allMatch(Finding::ok);
    }

    /** One line naming every problem, for readiness and the log. */
    String problems() {
      return findings.stream().filter(f -> !f.ok()).map(Finding::problem)
          .collect(Collectors.joining("; "));
    }

    /** One line with every version found, e.g. {@code lvm 2.03.16(2), zfs 2.1.11 ...}. */
    String versions() {
      return findings.stream().filter(Finding::ok)
          .map(f -> f.tool().program() + " " + f.version()).collect(Collectors.joining(", "));
    }
  }

  private final CommandRunner runner;
  private final List<String> prefix;
  private final Set<String> storageTypes;
  private final List<Tool> tools;
  private final Duration timeout;
  private final Map<Tool, Finding> findings = new ConcurrentHashMap<>();

  /**
   * @param runner the driver's command runner (with its prefix)
   * @param prefix that runner's command prefix, only to say in messages where a tool was looked for
   * @param storageTypes the types of this node's storages ({@code lvmthin}, {@code zfspool})
   * @param timeout how long one version command may take
   */
  ToolCheck(CommandRunner runner, List<String> prefix, Set<String> storageTypes, Duration timeout) {
    this.runner = Objects.requireNonNull(runner, "runner");
    this.prefix = List.copyOf(prefix);
    this.storageTypes = Set.copyOf(storageTypes);
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    this.tools = Arrays.stream(Tool.values())
        .filter(t -> t.storageTypes.stream().anyMatch(this.storageTypes::contains))
        .toList();
  }

  /** The tools this node's storage types need, in the order they are checked. */
  List<Tool> tools() {
    return tools;
  }

  /** Runs every version command and keeps the findings for the gauges. */
  Report run() {
    long start = System.nanoTime();
    List<Finding> all = new ArrayList<>();
    for (Tool tool : tools) {
      Finding finding = check(tool);
      findings.put(tool, finding);
      all.add(finding);
    }
    return new Report(List.copyOf(all), Duration.ofNanos(System.nanoTime() - start));
  }

  /**
   * Registers {@code pve_csi_tool_ok{tool,backend}}, one series per tool and storage type that
   * needs it: 1 when the tool passed, 0 while unchecked or when it failed.
   */
  void bindTo(MeterRegistry registry) {
    for (Tool tool : tools) {
      for (String type : new TreeSet<>(tool.storageTypes)) {
        if (!storageTypes.contains(type)) {
          continue;
        }
        Gauge.builder(METER, findings, f -> Optional.ofNullable(f.get(tool))
                .filter(Finding::ok).isPresent() ? 1 : 0)
            .description("1 when the storage tool runs (through the command prefix) and "
                + "passes the start-up check, 0 when it is missing or mismatched")
            .tag("tool", tool.program())
            .tag("backend", type)
            // Held strongly: a gauge keeps its state only weakly by default, and once start-up
            // is over nothing else may keep the findings.
            .strongReference(true)
            .register(registry);
      }
    }
  }

  private Finding check(Tool tool) {
    CommandResult result;
    try {
      result = runner.run(Command.of(timeout, tool.argv()));
    } catch (StorageException e) {
      // Not even started, or no answer: without a prefix the tool itself is missing; with one,
      // it is the prefix's own program that failed (nsenter reports a missing tool as 127).
      return problem(tool, tool.program() + " cannot be run " + where() + " (" + e.getMessage()
          + "): " + (prefix.isEmpty() ? installHint(tool) : "the prefix's program "
              + prefix.get(0) + " must exist in the image and be allowed to enter the host "
              + "(privileged, hostPID)"));
    }
    String output = result.stdoutText() + "\n" + result.stderrText();
    if (result.exitCode() == EXEC_NOT_FOUND) {
      return problem(tool, tool.program() + " not found " + where() + ": " + installHint(tool));
    }
    if (tool == Tool.ZFS) {
      return checkZfs(result, output);
    }
    if (tool == Tool.IPC_NAMESPACE) {
      return checkIpcNamespace(result);
    }
    if (!result.succeeded()) {
      return problem(tool, failed(result) + ": " + installHint(tool));
    }
    Matcher version = tool.version.matcher(output);
    if (!version.find()) {
      return problem(tool, unreadable(result));
    }
    return new Finding(tool, version.group(1), null);
  }

  /** Userland and kernel module must both be there and of the same feature release. */
  private Finding checkZfs(CommandResult result, String output) {
    Matcher userland = Tool.ZFS.version.matcher(output);
    Matcher module = Pattern.compile("^zfs-kmod-(\\d\\S*)$", Pattern.MULTILINE).matcher(output);
    boolean hasUserland = userland.find();
    boolean hasModule = module.find();
    if (!hasUserland) {
      return problem(Tool.ZFS, result.succeeded() ? unreadable(result)
          : failed(result) + ": " + installHint(Tool.ZFS));
    }
    if (!hasModule) {
      return problem(Tool.ZFS, "zfs userland " + userland.group(1) + " runs " + where()
          + " but reports no kernel module (" + firstLine(result.stderrText())
          + "): load it on the host (modprobe zfs) before the driver starts");
    }
    String user = userland.group(1);
    String kernel = module.group(1);
    if (!featureRelease(user).equals(featureRelease(kernel))) {
      return problem(Tool.ZFS, "zfs userland " + user + " does not match the kernel module "
          + kernel + ": run the host's own zfs through the command prefix (chart value "
          + "driver.commandPrefix, nsenter into the host by default), or use an image whose "
          + "zfsutils-linux is " + featureRelease(kernel) + ".x");
    }
    return new Finding(Tool.ZFS, user + " (kernel module " + kernel + ")", null);
  }

  /**
   * lvm creates a udev cookie (a SysV semaphore) in its own IPC namespace and waits until the
   * udev rules complete it; the host's udev completes it in the IPC namespace of PID 1. Run in
   * another one (a pod's, entered with {@code nsenter --mount} alone), every lvcreate waits
   * forever. Without udev, LVM makes the device nodes itself and waits for nothing.
   */
  private Finding checkIpcNamespace(CommandResult result) {
    String stdout = result.stdoutText();
    if (stdout.lines().noneMatch(line -> line.strip().equals("'" + UDEV_CONTROL + "'"))) {
      return new Finding(Tool.IPC_NAMESPACE, "no udev running", null);
    }
    Matcher own = Tool.IPC_NAMESPACE.version.matcher(stdout);
    Matcher host = PID1_IPC.matcher(stdout);
    if (!own.find() || !host.find()) {
      return problem(Tool.IPC_NAMESPACE, "cannot compare the IPC namespace lvm runs in with PID "
          + "1's (" + failed(result) + "): the driver needs hostPID and the privilege to read "
          + "/proc/1/ns");
    }
    if (!own.group(1).equals(host.group(1))) {
      return problem(Tool.IPC_NAMESPACE, "lvm would run " + where() + " in the IPC namespace "
          + own.group(1) + ", not in the host's (" + host.group(1) + ") where udev completes "
          + "its cookies, so every lvcreate would wait for udev forever: make the prefix enter "
          + "PID 1's IPC namespace too (nsenter --target=1 --mount --uts --ipc ..., the chart's "
          + "default) or give the pod hostIPC");
    }
    return new Finding(Tool.IPC_NAMESPACE, "the host's (" + own.group(1) + ")", null);
  }

  /** {@code 2.1} of {@code 2.1.11-1+deb12u1}: the release that fixes the kernel interface. */
  static String featureRelease(String version) {
    String[] parts = version.split("[.-]", 3);
    return parts.length >= 2 ? parts[0] + "." + parts[1] : version;
  }

  private String where() {
    return prefix.isEmpty() ? "in the driver's own file system (no command prefix)"
        : "through the command prefix '" + String.join(" ", prefix) + "'";
  }

  private String installHint(Tool tool) {
    return prefix.isEmpty()
        ? "install " + tool.packageName + " in the image, or run the host's tools with a "
            + "command prefix (chart value driver.commandPrefix)"
        : "install " + tool.packageName + " on the host";
  }

  private static String failed(CommandResult result) {
    return String.join(" ", result.command().argv()) + " exited " + result.exitCode()
        + (result.stderrText().isBlank() ? "" : " (" + firstLine(result.stderrText()) + ")");
  }

  private static String unreadable(CommandResult result) {
    String out = (result.stdoutText() + "\n" + result.stderrText()).strip();
    return String.join(" ", result.command().argv()) + " printed no version this driver can "
        + "read: '" + firstLine(out) + "'";
  }

  private static String firstLine(String text) {
    return text.strip().lines().findFirst().orElse("");
  }

  private static Finding problem(Tool tool, String message) {
    return new Finding(tool, null, message);
  }
}
