package io.csi.pvestorage.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.ProcessCommandRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link Mounter} against the real tools and kernel of this machine, on loop devices over
 * sparse files in a temporary directory. Everything created (mounts, loop devices, files) is
 * torn down after each test, also when it fails.
 *
 * <p>These tests need root (loop devices, mount). Without it they are aborted with the reason,
 * because a developer's unprivileged checkout cannot run them at all; {@code .ci/run} sets
 * {@code PVE_CSI_REQUIRE_VM=1}, which turns that abort into a failure, so CI can never pass by
 * skipping them (the same rule as the VM harness).
 */
class NodeMountLoopDeviceTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(60);

  private final CommandRunner runner = ProcessCommandRunner.local();
  private final Mounter mounter = new Mounter(runner, TIMEOUT, Duration.ofMinutes(5));
  private final List<String> loops = new ArrayList<>();
  private Path work;

  @BeforeEach
  void requireRoot() throws IOException {
    String uid = sh("id", "-u").stdoutText().strip();
    if (!uid.equals("0")) {
      String reason = "loop-device tests need root (uid is " + uid + ")";
      if ("1".equals(System.getenv("PVE_CSI_REQUIRE_VM"))) {
        throw new IllegalStateException(reason + "; PVE_CSI_REQUIRE_VM=1 forbids skipping");
      }
      // Justified skip: loop devices and mounts need root, which a developer may not have;
      // the reason is printed, and CI (.ci/run runs as root and sets PVE_CSI_REQUIRE_VM=1)
      // turns this skip into the failure above.
      Assumptions.abort(reason);
    }
    work = Files.createTempDirectory("node-mount-test");
  }

  @AfterEach
  void cleanUp() throws IOException {
    if (work == null) {
      return;
    }
    // Unmount deepest and latest first, however many are stacked, then free the loop devices.
    for (int round = 0; round < 8; round++) {
      List<MountEntry> ours = mounter.mounts().entries().stream()
          .filter(e -> e.target().startsWith(work.toString())).toList();
      if (ours.isEmpty()) {
        break;
      }
      for (int i = ours.size() - 1; i >= 0; i--) {
        runner.run(Command.of(TIMEOUT, "umount", ours.get(i).target()));
      }
    }
    for (String loop : loops) {
      runner.run(Command.of(TIMEOUT, "losetup", "-d", loop));
    }
    try (var files = Files.walk(work)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  @Test
  void ext4IsMadeOnceMountedBoundReadOnlyAndNeverReformatted() throws IOException {
    HostPath device = loop("ext4.img", "128M");
    HostPath staging = path("staging");
    HostPath publish = path("pods/publish");

    mounter.mountDevice(device, staging, "ext4", List.of("noatime"));
    assertTrue(mounter.probe(device).isFilesystem("ext4"));
    MountEntry staged = mounter.mounts().top(staging).orElseThrow();
    assertTrue(staged.isWholeFilesystemOf(mounter.blockDevice(device)));
    assertTrue(staged.vfsOptions().contains("noatime"));
    Files.writeString(Path.of(staging.value(), "data"), "kept");

    mounter.mountDevice(device, staging, "ext4", List.of("noatime"));
    assertEquals(1, mounter.mounts().at(staging).size(), "a repeated stage mounts nothing new");
    assertEquals(ErrorKind.ALREADY_EXISTS, kind(() ->
        mounter.mountDevice(device, staging, "ext4", List.of("ro"))));

    Files.createDirectories(Path.of(publish.value()).getParent());
    mounter.bindFilesystem(staging, publish, true);
    mounter.bindFilesystem(staging, publish, true);
    MountEntry bound = mounter.mounts().top(publish).orElseThrow();
    assertTrue(bound.readOnly() && bound.sameContent(staged));
    assertEquals(1, mounter.mounts().at(publish).size());
    assertEquals("kept", Files.readString(Path.of(publish.value(), "data")));
    assertThrows(IOException.class, () -> Files.writeString(Path.of(publish.value(), "x"), "x"));
    assertEquals(ErrorKind.ALREADY_EXISTS, kind(() ->
        mounter.bindFilesystem(staging, publish, false)));

    FilesystemStats stats = mounter.filesystemStats(publish);
    assertTrue(stats.totalBytes() > 100L << 20 && stats.totalBytes() <= 128L << 20, stats.toString());
    assertTrue(stats.usedInodes() > 0 && stats.availableBytes() > 0, stats.toString());

    assertEquals(1, mounter.unmountAndRemove(publish));
    assertFalse(Files.exists(Path.of(publish.value())));
    assertEquals(1, mounter.unmountAndRemove(staging));
    assertEquals(0, mounter.unmountAndRemove(staging), "gone is fine");

    assertEquals(ErrorKind.PRECONDITION, kind(() ->
        mounter.mountDevice(device, staging, "xfs", List.of())), "ext4 is never made xfs");
    mounter.mountDevice(device, staging, "ext4", List.of());
    assertEquals("kept", Files.readString(Path.of(staging.value(), "data")), "not reformatted");
  }

  @Test
  void aDeviceWithAnySignatureIsLeftAlone() {
    HostPath device = loop("swap.img", "16M");
    sh("mkswap", "-q", device.value());
    StorageException e = assertThrows(StorageException.class,
        () -> mounter.mountDevice(device, path("staging"), "ext4", List.of()));
    assertEquals(ErrorKind.PRECONDITION, e.kind());
    assertTrue(e.getMessage().contains("swap"), e.getMessage());
    assertEquals("swap", mounter.probe(device).type().orElseThrow());
  }

  @Test
  void blockDeviceIsBoundOntoAFile() {
    HostPath device = loop("block.img", "16M");
    HostPath other = loop("other.img", "16M");
    HostPath target = path("block-target");

    mounter.bindBlockDevice(device, target, false);
    mounter.bindBlockDevice(device, target, false);
    assertEquals(1, mounter.mounts().at(target).size());
    assertEquals(FileInfo.Type.BLOCK_DEVICE, mounter.inspect(target).orElseThrow().type());
    assertEquals(mounter.blockDevice(device), mounter.blockDevice(target));
    assertEquals(16L << 20, mounter.blockDeviceSize(target));
    assertEquals(ErrorKind.ALREADY_EXISTS, kind(() -> mounter.bindBlockDevice(other, target, false)));

    mounter.bindBlockDevice(device, target, true);
    assertTrue(mounter.mounts().top(target).orElseThrow().readOnly(), "made read-only in place");

    assertEquals(1, mounter.unmountAndRemove(target));
    assertTrue(mounter.inspect(target).isEmpty(), "the file this driver created is removed");
  }

  @Test
  void xfsGrowsOnlineWithItsDevice() {
    HostPath device = loop("xfs.img", "320M");
    HostPath staging = path("staging");
    mounter.mountDevice(device, staging, "xfs", List.of());
    long before = mounter.filesystemStats(staging).totalBytes();

    grow("xfs.img", device, "640M");
    assertEquals(640L << 20, mounter.blockDeviceSize(device));
    mounter.growFilesystem(device, staging, "xfs");
    long after = mounter.filesystemStats(staging).totalBytes();
    assertTrue(after > before + (250L << 20), before + " -> " + after);
    mounter.growFilesystem(device, staging, "xfs");
    assertEquals(after, mounter.filesystemStats(staging).totalBytes(), "growing again: no change");
  }

  /**
   * Online ext4 growth needs CAP_SYS_RESOURCE. Where the test runs with it, the filesystem
   * grows; in a container without it, the refusal must arrive as PRECONDITION naming the
   * capability (both are real kernel behaviour; neither branch is a skip).
   */
  @Test
  void ext4GrowsOnlineOrSaysWhichPrivilegeIsMissing() throws IOException {
    HostPath device = loop("ext4.img", "128M");
    HostPath staging = path("staging");
    mounter.mountDevice(device, staging, "ext4", List.of());
    long before = mounter.filesystemStats(staging).totalBytes();
    grow("ext4.img", device, "256M");

    if (hasCapSysResource()) {
      mounter.growFilesystem(device, staging, "ext4");
      assertTrue(mounter.filesystemStats(staging).totalBytes() > before + (100L << 20));
    } else {
      StorageException e = assertThrows(StorageException.class,
          () -> mounter.growFilesystem(device, staging, "ext4"));
      assertEquals(ErrorKind.PRECONDITION, e.kind());
      assertTrue(e.getMessage().contains("CAP_SYS_RESOURCE"), e.getMessage());
      assertEquals(before, mounter.filesystemStats(staging).totalBytes());
    }
  }

  @Test
  void busyTargetStaysMountedAndStackedMountsAllGo() throws Exception {
    HostPath target = path("busy");
    Files.createDirectories(Path.of(target.value()));
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target.value());
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target.value());
    Process holder = new ProcessBuilder("sleep", "60").directory(Path.of(target.value()).toFile())
        .start();
    try {
      StorageException e = assertThrows(StorageException.class,
          () -> mounter.unmountAndRemove(target));
      assertEquals(ErrorKind.PRECONDITION, e.kind());
      assertTrue(mounter.mounts().isMountPoint(target), "never lazily unmounted");
    } finally {
      holder.destroyForcibly().waitFor();
    }
    assertEquals(2, mounter.unmountAndRemove(target));
    assertTrue(mounter.inspect(target).isEmpty());
  }

  @Test
  void aDirectoryThatIsNotEmptyAfterUnmountIsKept() throws IOException {
    HostPath target = path("full");
    Files.createDirectories(Path.of(target.value()));
    Files.writeString(Path.of(target.value(), "precious"), "x");
    assertEquals(ErrorKind.PRECONDITION, kind(() -> mounter.unmountAndRemove(target)));
    assertTrue(Files.exists(Path.of(target.value(), "precious")));
  }

  // ---- helpers --------------------------------------------------------------------------------

  private HostPath path(String name) {
    return new HostPath(work.resolve(name).toString());
  }

  private HostPath loop(String file, String size) {
    String image = work.resolve(file).toString();
    sh("truncate", "-s", size, image);
    String device = sh("losetup", "-f", "--show", image).stdoutText().strip();
    loops.add(device);
    return new HostPath(device);
  }

  private void grow(String file, HostPath device, String size) {
    sh("truncate", "-s", size, work.resolve(file).toString());
    sh("losetup", "-c", device.value());
  }

  private static boolean hasCapSysResource() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("CapEff:")) {
        return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 24)) != 0;
      }
    }
    return false;
  }

  private CommandResult sh(String... argv) {
    return runner.run(Command.of(TIMEOUT, argv)).requireSuccess();
  }

  private static ErrorKind kind(Runnable action) {
    return assertThrows(StorageException.class, action::run).kind();
  }
}
