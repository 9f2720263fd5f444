package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The start-up tool check against a scripted runner. lvm and zfs answer with the outputs
 * recorded from the real tools in the VM harness (fixtures); the other version lines are those
 * of Debian bookworm's e2fsprogs 1.47.0, xfsprogs 6.1.0, util-linux 2.38.1 and udev 252.
 */
class ToolCheckTest {

  private static final List<String> PREFIX = List.of("nsenter", "--target=1", "--mount", "--");
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private static final List<String> IPC = List.of("stat", "-c", "%N", "/proc/self/ns/ipc",
      "/proc/1/ns/ipc", "/run/udev/control");
  /** What stat prints for a process in the host's IPC namespace while udev runs. */
  private static final String HOST_IPC = "'/proc/self/ns/ipc' -> 'ipc:[4026531839]'\n"
      + "'/proc/1/ns/ipc' -> 'ipc:[4026531839]'\n'/run/udev/control'\n";

  private final FakeCommandRunner runner = new FakeCommandRunner();

  private static Fixture lvmVersion() {
    return Fixture.load("lvm", "2.03.16", "lvm-version");
  }

  private static Fixture zfsVersion() {
    return Fixture.load("zfs", "2.1.11", "zfs-version");
  }

  /** The tools every storage type needs, answering as bookworm's do. */
  private FakeCommandRunner filesystemToolsAnswer() {
    return runner
        .expect("mkfs.ext4", "-V").thenExit(0, "",
            "mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0\n")
        .expect("mkfs.xfs", "-V").thenSucceed("mkfs.xfs version 6.1.0\n")
        .expect("mount", "--version").thenSucceed("mount from util-linux 2.38.1 (libmount 2.38.1:"
            + " selinux, smack, btrfs, verity, namespaces, assert, debug)\n")
        .expect("findmnt", "--version").thenSucceed("findmnt from util-linux 2.38.1\n")
        .expect("blkid", "-V").thenSucceed("blkid from util-linux 2.38.1  (libblkid 2.38.1, 04-Aug-2022)\n");
  }

  private ToolCheck check(Set<String> types) {
    return new ToolCheck(runner, PREFIX, types, TIMEOUT);
  }

  @Test
  void lvmThinNeedsLvmAndTheFilesystemToolsButNoZfs() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenSucceed(HOST_IPC);
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.LVMTHIN)).run();

    runner.verifyAllConsumed();
    assertTrue(report.ok(), report::problems);
    assertEquals("lvm 2.03.16(2), ipc-namespace the host's (ipc:[4026531839]), mkfs.ext4 1.47.0, mkfs.xfs 6.1.0, mount 2.38.1, "
        + "findmnt 2.38.1, blkid 2.38.1", report.versions());
  }

  @Test
  void zfsPoolChecksUserlandAgainstTheKernelModuleAndUdev() {
    runner.expect("zfs", "version").thenSucceed(zfsVersion().stdoutText())
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.ZFSPOOL)).run();

    runner.verifyAllConsumed();
    assertTrue(report.ok(), report::problems);
    assertTrue(report.versions().startsWith(
        "zfs 2.1.11-1+deb12u1 (kernel module 2.1.11-1+deb12u1), udevadm 252, mkfs.ext4 1.47.0"),
        report.versions());
  }

  @Test
  void bothTypesRunEachToolOnce() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenSucceed(HOST_IPC)
        .expect("zfs", "version").thenSucceed(zfsVersion().stdoutText())
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    assertTrue(check(Set.of(ToolCheck.LVMTHIN, ToolCheck.ZFSPOOL)).run().ok());
    runner.verifyAllConsumed();
  }

  @Test
  void noStorageNeedsNoTool() {
    assertEquals(List.of(), check(Set.of()).tools());
    assertTrue(check(Set.of()).run().ok());
    assertEquals(List.of(), runner.commands());
  }

  @Test
  void aZfsUserlandOfAnotherFeatureReleaseThanTheModuleFailsAndSaysWhatToDo() {
    runner.expect("zfs", "version").thenSucceed("zfs-2.3.2-2\nzfs-kmod-2.1.11-1+deb12u1\n")
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.ZFSPOOL)).run();

    assertFalse(report.ok());
    assertEquals("zfs userland 2.3.2-2 does not match the kernel module 2.1.11-1+deb12u1: run the "
        + "host's own zfs through the command prefix (chart value driver.commandPrefix, nsenter "
        + "into the host by default), or use an image whose zfsutils-linux is 2.1.x",
        report.problems());
  }

  @Test
  void aPatchReleaseApartStillMatches() {
    runner.expect("zfs", "version").thenSucceed("zfs-2.2.7-pve2\nzfs-kmod-2.2.6-pve1\n")
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    assertTrue(check(Set.of(ToolCheck.ZFSPOOL)).run().ok());
  }

  @Test
  void zfsWithoutItsKernelModuleFails() {
    // zfs 2.1 prints its userland, then fails to read /sys/module/zfs/version.
    runner.expect("zfs", "version").thenExit(1, "zfs-2.1.11-1+deb12u1\n",
            "zfs_version_kernel() failed: No such file or directory\n")
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.ZFSPOOL)).run();

    assertEquals("zfs userland 2.1.11-1+deb12u1 runs through the command prefix 'nsenter "
        + "--target=1 --mount --' but reports no kernel module (zfs_version_kernel() failed: No "
        + "such file or directory): load it on the host (modprobe zfs) before the driver starts",
        report.problems());
  }

  @Test
  void aToolMissingBehindThePrefixIsNamedWithItsPackage() {
    runner.expect("lvm", "version")
        .thenExit(127, "", "nsenter: failed to execute lvm: No such file or directory\n")
        .expect(IPC).thenSucceed(HOST_IPC);
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.LVMTHIN)).run();

    assertFalse(report.ok());
    assertEquals("lvm not found through the command prefix 'nsenter --target=1 --mount --': "
        + "install lvm2 on the host", report.problems());
    assertTrue(report.versions().startsWith("ipc-namespace the host's"), "the others are checked");
  }

  @Test
  void aToolThatCannotStartWithoutPrefixPointsAtTheImageOrThePrefix() {
    FakeCommandRunner local = new FakeCommandRunner();
    local.expect("lvm", "version").thenThrow(StorageException.ofCommand(ErrorKind.UNAVAILABLE,
        "cannot start lvm: Cannot run program \"lvm\": error=2, No such file or directory",
        List.of("lvm", "version"), null, ""));
    local.expect(IPC).thenSucceed(HOST_IPC);
    local.expect("mkfs.ext4", "-V").thenThrow(StorageException.ofCommand(ErrorKind.UNAVAILABLE,
        "cannot start mkfs.ext4: Cannot run program \"mkfs.ext4\": error=2, No such file or directory",
        List.of("mkfs.ext4", "-V"), null, ""));
    local.expect("mkfs.xfs", "-V").thenSucceed("mkfs.xfs version 6.1.0\n")
        .expect("mount", "--version").thenSucceed("mount from util-linux 2.38.1\n")
        .expect("findmnt", "--version").thenSucceed("findmnt from util-linux 2.38.1\n")
        .expect("blkid", "-V").thenExit(0, "", "");
    ToolCheck.Report report = new ToolCheck(local, List.of(), Set.of(ToolCheck.LVMTHIN), TIMEOUT)
        .run();

    assertTrue(report.problems().startsWith("lvm cannot be run in the driver's own file system"),
        report.problems());
    String[] problems = report.problems().split("; ");
    assertEquals(3, problems.length, report.problems());
    assertTrue(problems[1].startsWith("mkfs.ext4 cannot be run in the driver's own file system "
        + "(no command prefix) (cannot start mkfs.ext4"), problems[1]);
    assertTrue(problems[1].endsWith(": install e2fsprogs in the image, or run the host's tools "
        + "with a command prefix (chart value driver.commandPrefix)"), problems[1]);
    assertEquals("blkid -V printed no version this driver can read: ''", problems[2]);
  }

  @Test
  void aPrefixThatCannotStartIsBlamedInsteadOfTheTool() {
    runner.expect("lvm", "version").thenThrow(StorageException.ofCommand(ErrorKind.UNAVAILABLE,
        "cannot start lvm: Cannot run program \"nsenter\": error=2, No such file or directory",
        List.of("lvm", "version"), null, ""));
    runner.expect(IPC).thenSucceed(HOST_IPC);
    filesystemToolsAnswer();
    assertEquals("lvm cannot be run through the command prefix 'nsenter --target=1 --mount --' "
        + "(cannot start lvm: Cannot run program \"nsenter\": error=2, No such file or "
        + "directory): the prefix's program nsenter must exist in the image and be allowed to "
        + "enter the host (privileged, hostPID)", check(Set.of(ToolCheck.LVMTHIN)).run().problems());
  }

  @Test
  void aFailingVersionCommandQuotesItsError() {
    runner.expect("lvm", "version").thenExit(5, "", "  WARNING: Running as a non-root user.\n"
        + "  /dev/mapper/control: open failed: Permission denied\n")
        .expect(IPC).thenSucceed(HOST_IPC);
    filesystemToolsAnswer();
    assertEquals("lvm version exited 5 (WARNING: Running as a non-root user.): install lvm2 on "
        + "the host", check(Set.of(ToolCheck.LVMTHIN)).run().problems());
  }

  @Test
  void theGaugeIsOnePerToolAndStorageTypeAndFollowsTheFindings() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenSucceed(HOST_IPC)
        .expect("zfs", "version").thenSucceed("zfs-2.3.2-2\nzfs-kmod-2.1.11-1+deb12u1\n")
        .expect("udevadm", "--version").thenSucceed("252\n");
    filesystemToolsAnswer();
    ToolCheck check = check(Set.of(ToolCheck.LVMTHIN, ToolCheck.ZFSPOOL));
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    check.bindTo(registry);
    assertEquals(0.0, gauge(registry, "lvm", "lvmthin"), "0 until checked");

    check.run();
    assertEquals(1.0, gauge(registry, "lvm", "lvmthin"));
    assertEquals(0.0, gauge(registry, "zfs", "zfspool"), "the mismatch");
    assertEquals(1.0, gauge(registry, "udevadm", "zfspool"));
    assertEquals(1.0, gauge(registry, "mkfs.ext4", "lvmthin"));
    assertEquals(1.0, gauge(registry, "mkfs.ext4", "zfspool"));
    // lvm and its IPC namespace for LVM-thin only, zfs and udevadm for ZFS only, five tools
    // for both: 4 + 2 * 5
    assertEquals(14, registry.find(ToolCheck.METER).gauges().size());
  }

  /**
   * The trap of the old chart default: {@code nsenter --mount} alone leaves lvm in the pod's IPC
   * namespace, where the host's udev never completes its cookie.
   */
  @Test
  void lvmOutsideTheHostsIpcNamespaceFailsWhileUdevRuns() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenSucceed("'/proc/self/ns/ipc' -> 'ipc:[4026532283]'\n"
            + "'/proc/1/ns/ipc' -> 'ipc:[4026531839]'\n'/run/udev/control'\n");
    filesystemToolsAnswer();
    assertEquals("lvm would run through the command prefix 'nsenter --target=1 --mount --' in the "
        + "IPC namespace ipc:[4026532283], not in the host's (ipc:[4026531839]) where udev "
        + "completes its cookies, so every lvcreate would wait for udev forever: make the prefix "
        + "enter PID 1's IPC namespace too (nsenter --target=1 --mount --uts --ipc ..., the "
        + "chart's default) or give the pod hostIPC", check(Set.of(ToolCheck.LVMTHIN)).run().problems());
  }

  @Test
  void withoutUdevLvmWaitsForNothingSoAnyIpcNamespaceWill() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenExit(1, "'/proc/self/ns/ipc' -> 'ipc:[4026532283]'\n"
            + "'/proc/1/ns/ipc' -> 'ipc:[4026531839]'\n",
            "stat: cannot statx '/run/udev/control': No such file or directory\n");
    filesystemToolsAnswer();
    ToolCheck.Report report = check(Set.of(ToolCheck.LVMTHIN)).run();
    assertTrue(report.ok(), report::problems);
    assertTrue(report.versions().contains("ipc-namespace no udev running"), report.versions());
  }

  @Test
  void anUnreadablePid1NamespaceCannotBeComparedAndSaysWhy() {
    runner.expect("lvm", "version").thenSucceed(lvmVersion().stdoutText())
        .expect(IPC).thenExit(1, "'/proc/self/ns/ipc' -> 'ipc:[4026532283]'\n'/proc/1/ns/ipc'\n"
            + "'/run/udev/control'\n", "stat: cannot read symbolic link '/proc/1/ns/ipc': "
            + "Permission denied\n");
    filesystemToolsAnswer();
    assertEquals("cannot compare the IPC namespace lvm runs in with PID 1's (stat -c %N "
        + "/proc/self/ns/ipc /proc/1/ns/ipc /run/udev/control exited 1 (stat: cannot read symbolic "
        + "link '/proc/1/ns/ipc': Permission denied)): the driver needs hostPID and the privilege "
        + "to read /proc/1/ns", check(Set.of(ToolCheck.LVMTHIN)).run().problems());
  }

  @Test
  void featureReleaseIsMajorDotMinor() {
    assertEquals("2.1", ToolCheck.featureRelease("2.1.11-1+deb12u1"));
    assertEquals("2.2", ToolCheck.featureRelease("2.2.7-pve2"));
    assertEquals("2.3", ToolCheck.featureRelease("2.3.0-rc1"));
  }

  private static double gauge(SimpleMeterRegistry registry, String tool, String backend) {
    return registry.get(ToolCheck.METER).tag("tool", tool).tag("backend", backend).gauge().value();
  }
}
