package io.csi.pvestorage.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The node package's parsers on output recorded on Debian bookworm (record-fixtures.sh). */
class NodeParsersTest {

  static Fixture fixture(String name) {
    return Fixture.load("node", "bookworm", name);
  }

  @Test
  void findmntTableHasStagedPublishedBlockAndStackedMounts() {
    Fixture f = fixture("findmnt-staged");
    assertEquals(List.of("findmnt", "-J", "-l", "-o", FindmntParser.COLUMNS), f.argv());
    MountTable table = FindmntParser.parse(f.stdoutText());
    String work = f.stdoutText().replaceAll("(?s).*\"(/tmp/node-fixtures\\.[^/\"]+)/.*", "$1");

    MountEntry staged = table.top(new HostPath(work + "/staging-ext4")).orElseThrow();
    assertEquals("/dev/loop1", staged.source());
    assertEquals("ext4", staged.fsType());
    assertEquals(List.of("rw", "noatime"), staged.vfsOptions());
    assertTrue(staged.isWholeFilesystemOf(new DeviceNumber(7, 1)));
    assertFalse(staged.readOnly());

    MountEntry published = table.top(new HostPath(work + "/publish-ext4")).orElseThrow();
    assertTrue(published.sameContent(staged), "a bind shows the same filesystem");
    assertTrue(published.readOnly(), "remounted read-only");
    assertFalse(published.forcedReadOnly(), "read-only by choice, not by the kernel");

    MountEntry block = table.top(new HostPath(work + "/block-target")).orElseThrow();
    assertEquals("devtmpfs", block.fsType());
    assertEquals("/loop0", block.fsRoot());

    HostPath spaced = new HostPath(work + "/with space");
    assertEquals(2, table.at(spaced).size(), "two tmpfs stacked on one path");
    assertEquals("0:40", table.top(spaced).orElseThrow().majMin(), "the later mount is on top");
    assertFalse(table.isMountPoint(new HostPath(work + "/staging")));
  }

  @Test
  void findmntJsonEscapesAndNullsAreRead() {
    String json = """
        {"filesystems": [
          {"target": "/a \\"b\\"\\\\c\\u00e9", "source": null, "fstype": "tmpfs",
           "vfs-options": "rw", "fs-options": "", "maj:min": "0:5", "fsroot": "/", "extra": [1, true]}
        ]}""";
    MountEntry e = FindmntParser.parse(json).entries().get(0);
    assertEquals("/a \"b\"\\c\u00e9", e.target());
    assertEquals("", e.source());
    assertEquals(List.of(), e.fsOptions());
  }

  @Test
  void findmntGarbageIsInternal() {
    for (String bad : List.of("", "{", "[]", "{\"filesystems\": [1]}",
        "{\"filesystems\": [{\"target\": \"/x\"}]}", "{\"filesystems\": []} x")) {
      StorageException e = assertThrows(StorageException.class, () -> FindmntParser.parse(bad));
      assertEquals(ErrorKind.INTERNAL, e.kind(), bad);
    }
  }

  @Test
  void blkidSignatures() {
    assertEquals(2, fixture("blkid-blank").exitCode(), "exit 2 is how blkid says: nothing here");
    assertTrue(fixture("blkid-blank").stdoutText().isEmpty());

    DeviceSignature ext4 = DeviceSignature.parseExport(fixture("blkid-ext4").stdoutText());
    assertTrue(ext4.isFilesystem("ext4"));
    assertFalse(ext4.isFilesystem("xfs"));
    assertTrue(DeviceSignature.parseExport(fixture("blkid-xfs").stdoutText()).isFilesystem("xfs"));

    DeviceSignature swap = DeviceSignature.parseExport(fixture("blkid-swap").stdoutText());
    assertFalse(swap.blank());
    assertFalse(swap.isFilesystem("swap"), "swap is a signature, not a filesystem");
    assertEquals("swap (other)", swap.describe());

    DeviceSignature gpt = DeviceSignature.parseExport("DEVNAME=/dev/sdb\nPTUUID=x\nPTTYPE=gpt\n");
    assertEquals(Optional.of("partition table gpt"), gpt.type());
    assertFalse(DeviceSignature.parseExport("DEVNAME=/dev/sdb\n").blank(),
        "exit 0 with nothing we know still means: something is there");
  }

  /**
   * blkid exits 2 for "nothing found" also when there was nothing to probe: a device node with
   * nothing behind it (an unbound loop device, whose size reads 0) or no device at all. Neither
   * says anything on stderr, which is why the exit code alone never means blank.
   */
  @Test
  void blkidSaysNothingFoundAlsoForWhatItCouldNotProbe() {
    for (String name : List.of("blkid-unbound", "blkid-missing")) {
      Fixture f = fixture(name);
      assertEquals(2, f.exitCode(), name);
      assertTrue(f.stdoutText().isEmpty() && f.stderrText().isEmpty(), name);
    }
    assertEquals("0", fixture("blockdev-size-unbound").stdoutText().strip());
    Fixture read = fixture("dd-first-block");
    assertEquals(List.of("dd", "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
        "status=none"), read.argv().stream().filter(a -> !a.startsWith("if=")).toList());
    assertEquals(0, read.exitCode());
  }

  @Test
  void filesystemSizesFromTheirOwnTools() {
    Fixture dumpe2fs = fixture("dumpe2fs-h");
    assertEquals(List.of("dumpe2fs", "-h"), dumpe2fs.argv().subList(0, 2));
    FilesystemSize ext4 = FilesystemSize.parseDumpe2fs(dumpe2fs.stdoutText());
    assertEquals(new FilesystemSize(4096, 131072), ext4);
    assertEquals(512L << 20, ext4.bytes(), "mkfs.ext4 fills the 512 MiB device");

    Fixture statfs = fixture("xfs-io-statfs");
    assertEquals(List.of("xfs_io", "-r", "-c", "statfs"), statfs.argv().subList(0, 4));
    assertEquals(512L << 20, FilesystemSize.parseXfsStatfs(statfs.stdoutText()).bytes(),
        "the data section spans the device; statfs's f_blocks (log excluded) would not");
    assertEquals(1L << 30, FilesystemSize.parseXfsStatfs(
        fixture("xfs-io-statfs-grown").stdoutText()).bytes(), "after xfs_growfs to 1 GiB");

    for (String bad : List.of("", "Block count: 5\n", "Block size: x\nBlock count: 5\n",
        "Block size: 0\nBlock count: 5\n")) {
      StorageException e = assertThrows(StorageException.class,
          () -> FilesystemSize.parseDumpe2fs(bad), bad);
      assertEquals(ErrorKind.INTERNAL, e.kind());
    }
    assertThrows(StorageException.class, () -> FilesystemSize.parseXfsStatfs(
        "fd.path = \"/tmp\"\nstatfs.f_bsize = 4096\n"), "statfs of a non-xfs path has no geom");
  }

  @Test
  void statFilesystem() {
    Fixture f = fixture("stat-fs-ext4");
    assertEquals("-c", f.argv().get(2));
    assertEquals(FilesystemStats.FORMAT, f.argv().get(3));
    FilesystemStats ext4 = FilesystemStats.parse(f.stdoutText());
    assertEquals(4096L * 124725, ext4.totalBytes());
    assertEquals(4096L * 122098, ext4.availableBytes());
    assertEquals(4096L * (124725 - 124719), ext4.usedBytes());
    assertEquals(32768, ext4.totalInodes());
    assertEquals(11, ext4.usedInodes());
    FilesystemStats xfs = FilesystemStats.parse(fixture("stat-fs-xfs").stdoutText());
    assertEquals(4096L * 114688, xfs.totalBytes());
    assertEquals(3, xfs.usedInodes());
    assertThrows(StorageException.class, () -> FilesystemStats.parse("1 2 3"));
    assertThrows(StorageException.class, () -> FilesystemStats.parse("a 2 3 4 5 6"));
  }

  @Test
  void statFileTypes() {
    assertEquals(List.of("stat", "-c", FileInfo.FORMAT), fixture("stat-type-dir").argv().subList(0, 3));
    assertEquals(FileInfo.Type.DIRECTORY, FileInfo.parse(fixture("stat-type-dir").stdoutText()).type());
    FileInfo file = FileInfo.parse(fixture("stat-type-file").stdoutText());
    assertEquals(FileInfo.Type.REGULAR_FILE, file.type());
    assertEquals(4, file.sizeBytes(), "a file that holds data is not the empty block target");
    FileInfo target = FileInfo.parse(fixture("stat-type-block-target").stdoutText());
    FileInfo device = FileInfo.parse(fixture("stat-type-device").stdoutText());
    assertEquals(Optional.of(new DeviceNumber(7, 0)), device.device());
    assertEquals(device, target, "the bound target file shows the device itself");
    assertEquals(new DeviceNumber(253, 17),
        FileInfo.parse("block special file|fd|11|0\n").device().orElseThrow(), "hex numbers");
    assertEquals(FileInfo.Type.REGULAR_FILE, FileInfo.parse("regular empty file|0|0|0").type());
    assertEquals(FileInfo.Type.SYMBOLIC_LINK, FileInfo.parse("symbolic link|0|0|7").type());
    assertThrows(StorageException.class, () -> FileInfo.parse("directory|0|0"));
    assertThrows(StorageException.class, () -> FileInfo.parse("directory|0|0|x"));
    Fixture missing = fixture("stat-type-missing");
    assertEquals(1, missing.exitCode());
    assertTrue(missing.stderrText().contains("No such file or directory"));
  }

  @Test
  void hostPathsAreValidatedNamingTheField() {
    assertEquals("/var/lib/kubelet/x", HostPath.of("target_path", "/var/lib/kubelet/x").value());
    for (String bad : List.of("relative/x", "/", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\nb",
        "/a\u0000b")) {
      StorageException e = assertThrows(StorageException.class,
          () -> HostPath.of("target_path", bad), bad);
      assertEquals(ErrorKind.INVALID, e.kind());
      assertTrue(e.getMessage().startsWith("target_path "), e.getMessage());
    }
    assertEquals("target_path is required",
        assertThrows(StorageException.class, () -> HostPath.of("target_path", "")).getMessage());
    assertTrue(HostPath.of("p", "/a/..b/c.").value().endsWith("c."), "dots inside names are fine");
    String huge = "/" + "x".repeat(5000);
    String message = assertThrows(StorageException.class, () -> HostPath.of("p", huge))
        .getMessage();
    assertTrue(message.length() < 400, "a long path is cut in the message: " + message.length());
  }

  /** realpath's NUL-separated answer, recorded with a link that leads out of the directory. */
  @Test
  void realPathsAreReadFromRealpathsOwnOutput() {
    Fixture f = fixture("realpath");
    List<HostPath> asked = f.argv().subList(4, f.argv().size()).stream().map(HostPath::new)
        .toList();
    FakeCommandRunner runner = new FakeCommandRunner();
    runner.expect(f.argv()).thenExit(f.exitCode(), f.stdoutText(), f.stderrText());
    List<String> resolved = new Mounter(runner, Duration.ofSeconds(1), Duration.ofSeconds(1))
        .realPaths(asked);
    assertEquals(List.of(asked.get(0).value(), "/etc/x", asked.get(2).value()), resolved,
        "the link is followed, a path that does not exist yet is kept");
  }

  @Test
  void printableEscapesControlsAndBoundsLength() {
    assertEquals("a\\x0ab\\x1b[0m\\x7f\\x85c\u00e9", Printable.of("a\nb\u001b[0m\u007f\u0085c\u00e9"));
    assertEquals("abc...(5 characters)", Printable.of("abcde", 3));
    assertEquals("abc", Printable.of("abc", 3));
  }

  @Test
  void kubeletDirPathsAreBelowItAsText() {
    KubeletDir dir = new KubeletDir(new HostPath("/var/lib/kubelet"));
    assertEquals(new HostPath("/var/lib/kubelet/pods/x"),
        dir.check("target_path", "/var/lib/kubelet/pods/x", ErrorKind.INVALID).path());
    for (String outside : List.of("/etc", "/var/lib/kubelet", "/var/lib/kubeletx/y",
        "/var/lib/kubelet/../../etc", "var/lib/kubelet/x")) {
      StorageException e = assertThrows(StorageException.class,
          () -> dir.check("target_path", outside, ErrorKind.INVALID), outside);
      assertEquals(ErrorKind.INVALID, e.kind());
      assertTrue(e.getMessage().startsWith("target_path "), e.getMessage());
      assertEquals(ErrorKind.NOT_FOUND, assertThrows(StorageException.class,
          () -> dir.check("volume_path", outside, ErrorKind.NOT_FOUND)).kind(), outside);
    }
    assertEquals(ErrorKind.INVALID, assertThrows(StorageException.class,
        () -> dir.check("volume_path", "", ErrorKind.NOT_FOUND)).kind(),
        "a missing field stays INVALID_ARGUMENT");
  }

  @Test
  void mountFlagsComeFromTheAllowList() {
    assertEquals(List.of("noatime", "nodev", "data=ordered", "commit=30"), MountFlags.check(
        List.of("noatime,nodev", "data=ordered", "commit=30"), "ext4"));
    assertEquals(List.of("nouuid", "logbufs=8", "allocsize=64k", "discard"),
        MountFlags.check(List.of("nouuid", "logbufs=8", "allocsize=64k", "discard"), "xfs"));
    assertEquals(List.of("ro", "noexec"), MountFlags.check(List.of("ro", "noexec"), "zfs"));

    record Refusal(String flag, String fsType, String says) {}
    for (Refusal r : List.of(
        new Refusal("exec", "ext4", "'exec' is never allowed"),
        new Refusal("suid", "xfs", "'suid' is never allowed"),
        new Refusal("dev", "ext4", "'dev' is never allowed"),
        new Refusal("remount", "ext4", "'remount' is never allowed"),
        new Refusal("bind", "xfs", "'bind' is never allowed"),
        new Refusal("rbind", "ext4", "'rbind' is never allowed"),
        new Refusal("move", "ext4", "'move' is never allowed"),
        new Refusal("rw", "ext4", "'rw' is never allowed"),
        new Refusal("defaults", "ext4", "'defaults' is never allowed"),
        new Refusal("noatime,exec", "ext4", "'exec' is never allowed"),
        new Refusal("errors=panic", "ext4", "'errors' has a value"),
        new Refusal("noload", "ext4", "'noload' is not in the driver's allow-list"),
        new Refusal("nouuid", "ext4", "'nouuid' is not in the driver's allow-list for ext4"),
        new Refusal("data=journal", "xfs", "'data' is not in the driver's allow-list for xfs"),
        new Refusal("discard", "zfs", "not allowed on a ZFS dataset"),
        new Refusal("context=system_u:object_r:x", "ext4", "'context'"),
        new Refusal("noatime,", "ext4", "must not be empty"))) {
      StorageException e = assertThrows(StorageException.class,
          () -> MountFlags.check(List.of(r.flag()), r.fsType()), r.flag());
      assertEquals(ErrorKind.INVALID, e.kind());
      assertTrue(e.getMessage().contains(r.says()), r.flag() + ": " + e.getMessage());
    }
    String secret = "hunter2-\u00e9-secret";
    for (String flag : List.of("password=" + secret, "commit=" + secret, "x-" + "y=" + secret)) {
      String message = assertThrows(StorageException.class,
          () -> MountFlags.check(List.of(flag), "ext4")).getMessage();
      assertFalse(message.contains("hunter2"), "a flag's value is never echoed: " + message);
    }
  }
}
