package io.csi.pvestorage.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.fixtures.Fixture;
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
    assertEquals(FileInfo.Type.DIRECTORY, FileInfo.parse(fixture("stat-type-dir").stdoutText()).type());
    FileInfo target = FileInfo.parse(fixture("stat-type-block-target").stdoutText());
    FileInfo device = FileInfo.parse(fixture("stat-type-device").stdoutText());
    assertEquals(Optional.of(new DeviceNumber(7, 0)), device.device());
    assertEquals(device, target, "the bound target file shows the device itself");
    assertEquals(new DeviceNumber(253, 17),
        FileInfo.parse("block special file|fd|11\n").device().orElseThrow(), "hex numbers");
    assertEquals(FileInfo.Type.REGULAR_FILE, FileInfo.parse("regular empty file|0|0").type());
    assertEquals(FileInfo.Type.SYMBOLIC_LINK, FileInfo.parse("symbolic link|0|0").type());
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
  }
}
