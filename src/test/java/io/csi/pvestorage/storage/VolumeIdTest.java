package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What a volume or snapshot ID of this driver can look like, and what it never does. */
class VolumeIdTest {

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"local-lvm:vm-0-pvc-0f3e", "local-zfs:subvol-100-disk-0",
      "local-zfs:base-100-disk-0/vm-101-disk-1", "tank.2:basevol-9-x_y.z+1:2",
      "local-lvm:vm-0-claim-with-tabs-3a5e0c7d1b2f4a6e"})
  void idsOfPveImageNamesParseAndPrintBack(String text) {
    assertEquals(text, VolumeId.parse(text).toString());
    assertEquals(text + "@snap_1", SnapshotId.parse(text + "@snap_1").toString());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"", "no-colon", ":vm-0-a", "local-lvm:", "9lives:vm-0-a",
      "local-lvm:../../etc/passwd", "local-lvm:/dev/sda", "local-lvm:vm-0-a b",
      "local-lvm:vm-0-a\tb", "local-lvm:vm-0-a\nb", "local-lvm:vm-x-a", "local-lvm:disk-0",
      "local-lvm:vm-0-", "local-lvm:vm-0-ä", "local-lvm:vm-0-a/vm-0-b",
      "local-lvm:base-1-a/base-2-b/vm-3-c", "local-lvm:vm-0-a@b", "local-lvm:snap_vm-0-a_s",
      "local-lvm:vm-1234567890-a", "local-lvm\u0000:vm-0-a"})
  void textNoImageNameCouldBeIsInvalid(String text) {
    StorageException e = assertThrows(StorageException.class, () -> VolumeId.parse(text));
    assertEquals(ErrorKind.INVALID, e.kind());
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(ints = {128, 129, 1 << 20})
  void theLengthLimitIs128(int length) {
    String prefix = "local-lvm:vm-0-";
    String text = prefix + "a".repeat(length - prefix.length());
    if (length <= VolumeId.MAX_LENGTH) {
      assertEquals(text, VolumeId.parse(text).toString());
    } else {
      assertEquals(ErrorKind.INVALID,
          assertThrows(StorageException.class, () -> VolumeId.parse(text)).kind());
      assertEquals(ErrorKind.INVALID,
          assertThrows(StorageException.class, () -> SnapshotId.parse(text + "@s1")).kind());
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"local-lvm:vm-0-a", "local-lvm:vm-0-a@", "local-lvm:vm-0-a@1s",
      "local-lvm:vm-0-a@Snap", "local-lvm:vm-0-a@s\n", "@snap", "local-lvm:vm-0-a@@snap",
      "local-lvm:vm-0-a@s2345678901234567890123456789012345678901"})
  void textNoSnapshotIdCouldBeIsInvalid(String text) {
    assertEquals(ErrorKind.INVALID,
        assertThrows(StorageException.class, () -> SnapshotId.parse(text)).kind());
  }
}
