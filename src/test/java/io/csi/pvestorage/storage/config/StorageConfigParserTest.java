package io.csi.pvestorage.storage.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class StorageConfigParserTest {

  private static String resource(String name) throws IOException {
    try (InputStream in = StorageConfigParserTest.class.getResourceAsStream("/storage-cfg/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void readsARealLookingProxmoxStorageCfg() throws IOException {
    StorageConfig config = StorageConfigParser.parse(resource("pve-host.cfg"), "storage.cfg");

    assertEquals(List.of("local-lvm", "local-zfs", "tank-ct"),
        config.storages().stream().map(StorageDefinition::storeId).toList());
    assertEquals(List.of("dir: local (line 1)", "nfs: backup-nas (line 17)", "pbs: pbs-main (line 31)"),
        config.skipped());

    LvmThinStorage lvm = (LvmThinStorage) config.find("local-lvm").orElseThrow();
    assertEquals("pve", lvm.vgName());
    assertEquals("data", lvm.thinPool());
    assertEquals(Set.of("rootdir", "images"), lvm.common().content());
    assertEquals(0, lvm.common().owner());
    assertEquals(CapacityPolicy.DEFAULT, lvm.common().capacity());

    ZfsPoolStorage zfs = (ZfsPoolStorage) config.find("local-zfs").orElseThrow();
    assertEquals("rpool/data", zfs.pool());
    assertTrue(zfs.sparse(), "a key alone sets a boolean");
    assertEquals(OptionalLong.of(16 * 1024), zfs.blockSizeBytes());
    assertEquals(Optional.empty(), zfs.mountpoint());

    ZfsPoolStorage ct = (ZfsPoolStorage) config.find("tank-ct").orElseThrow();
    assertEquals(Optional.of("/tank/ct"), ct.mountpoint());
    assertTrue(ct.common().disabled());
    assertEquals(Set.of("pve1", "pve2"), ct.common().nodes());
    assertFalse(ct.sparse());
  }

  @Test
  void nodeRestrictionAndDisableDecideAvailability() {
    StorageConfig config = StorageConfigParser.parse("""
        lvmthin: st-a
        \tvgname pve
        \tthinpool data
        \tnodes n1,n2

        lvmthin: st-b
        \tvgname pve
        \tthinpool data2

        lvmthin: st-c
        \tvgname pve
        \tthinpool data3
        \tdisable 1
        """, "cfg");
    assertEquals(List.of("st-a", "st-b"), ids(config.availableOn("n1")));
    assertEquals(List.of("st-b"), ids(config.availableOn("n3")));
  }

  @Test
  void driverKeysSetOwnerAndCapacityPolicy() {
    StorageConfig config = StorageConfigParser.parse("""
        lvmthin: k8s-lvm
            vgname pve
            thinpool data
            csi-owner 99
            csi-overcommit 1.5
            csi-data-limit 85
            csi-metadata-limit 70
        """, "cfg");
    StorageDefinition s = config.find("k8s-lvm").orElseThrow();
    assertEquals(99, s.common().owner());
    assertEquals(new CapacityPolicy(1.5, 85, 70), s.common().capacity());
  }

  @ParameterizedTest(name = "csi-owner {0}")
  @CsvSource({"100", "9000", "999999999"})
  void aCsiOwnerThatMayBeAGuestIdIsRefusedUnlessAllowed(long owner) {
    String text = "zfspool: tank\n\tpool tank/k8s\n\tcsi-owner " + owner + "\n";
    StorageException e = assertThrows(StorageException.class,
        () -> StorageConfigParser.parse(text, "storage.cfg"));
    assertEquals(ErrorKind.INVALID, e.kind());
    assertEquals("storage.cfg:3: csi-owner " + owner + " of zfspool storage 'tank' is a possible "
        + "Proxmox VE guest ID (100 and above): PVE counts volume vm-" + owner + "-... as a disk "
        + "of guest " + owner + ", and removing that guest with 'destroy unreferenced disks' "
        + "deletes the volume. Use an owner from 0 to 99, or start the driver with "
        + "--allow-guest-owners (chart value pve.allowGuestOwners) if no guest can ever have "
        + "this ID", e.getMessage());
    StorageConfig allowed = StorageConfigParser.parse(text, "storage.cfg", new OwnerPolicy(true));
    assertEquals(owner, allowed.find("tank").orElseThrow().common().owner());
  }

  @Test
  void commentsBlankLinesAndCrLfAreTolerated() {
    StorageConfig config = StorageConfigParser.parse(
        "# top comment\r\n\r\nzfspool: z1\r\n\t# inside\r\n\tpool tank\r\n", "cfg");
    assertEquals("tank", ((ZfsPoolStorage) config.find("z1").orElseThrow()).pool());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      property before any section  | '\\tvgname pve'                                        | cfg:1: property line 'vgname pve' is outside a section
      header without id            | 'lvmthin:'                                           | cfg:1: section 'lvmthin:' has no storage ID
      header garbage               | 'lvmthin local-lvm'                                  | cfg:1: expected a section header
      bad storage id               | 'lvmthin: -x\\n\\tvgname pve\\n\\tthinpool data'        | cfg:1: storage ID '-x' is invalid
      missing thinpool             | 'lvmthin: aa\\n\\tvgname pve'                           | cfg:1: lvmthin storage 'aa' lacks the required key 'thinpool'
      missing pool                 | 'zfspool: zz\\n\\tsparse 1'                             | cfg:1: zfspool storage 'zz' lacks the required key 'pool'
      unknown key                  | 'lvmthin: aa\\n\\tvgname pve\\n\\tthinpool d\\n\\tsaferemove 1' | cfg:4: unknown key 'saferemove' for lvmthin storage 'aa'
      bad vg name                  | 'lvmthin: aa\\n\\tvgname p/ve\\n\\tthinpool d'            | cfg:2: vgname 'p/ve' is not a valid LVM name
      bad blocksize                | 'zfspool: zz\\n\\tpool tank\\n\\tblocksize 3k'            | cfg:3: blocksize '3k' must be a power of two
      blocksize too large          | 'zfspool: zz\\n\\tpool tank\\n\\tblocksize 32M'           | cfg:3: blocksize '32M' must be a power of two
      bad boolean                  | 'zfspool: zz\\n\\tpool tank\\n\\tsparse maybe'            | cfg:3: sparse 'maybe' is not a boolean
      relative mountpoint          | 'zfspool: zz\\n\\tpool tank\\n\\tmountpoint tank'         | cfg:3: mountpoint 'tank' must be an absolute path
      bad pool                     | 'zfspool: zz\\n\\tpool /tank'                           | cfg:2: pool '/tank' is not a ZFS dataset path
      duplicate key                | 'zfspool: zz\\n\\tpool tank\\n\\tpool tank2'              | cfg:3: key 'pool' is set twice in zfspool: zz (first at line 2)
      bad content                  | 'zfspool: zz\\n\\tpool tank\\n\\tcontent iso'             | cfg:3: content type 'iso' is not supported by zfspool
      bad owner                    | 'zfspool: zz\\n\\tpool tank\\n\\tcsi-owner -1'            | cfg:3: csi-owner '-1' must be an integer from 0 to 999999999
      bad overcommit               | 'zfspool: zz\\n\\tpool tank\\n\\tcsi-overcommit 0.5'      | cfg:3: csi-overcommit '0.5' must be a number from 1.0
      bad data limit               | 'zfspool: zz\\n\\tpool tank\\n\\tcsi-data-limit 101'      | cfg:3: csi-data-limit '101' must be an integer from 1 to 100
      bad node name                | 'zfspool: zz\\n\\tpool tank\\n\\tnodes Node_1'            | cfg:3: node name 'Node_1' in 'nodes' is invalid
      """)
  void malformedInputIsRejectedWithItsLine(String what, String text, String expectedStart) {
    StorageException e = assertThrows(StorageException.class,
        () -> StorageConfigParser.parse(text.replace("\\n", "\n").replace("\\t", "\t"), "cfg"));
    assertEquals(ErrorKind.INVALID, e.kind());
    assertTrue(e.getMessage().startsWith(expectedStart),
        () -> what + ": expected a message starting with\n  " + expectedStart + "\nbut got\n  "
            + e.getMessage());
  }

  @Test
  void duplicateStorageIdsAreRejectedNamingBothLines() {
    StorageException e = assertThrows(StorageException.class, () -> StorageConfigParser.parse("""
        dir: local
        \tpath /var/lib/vz

        zfspool: local
        \tpool rpool/data
        """, "storage.cfg"));
    assertEquals("storage.cfg:4: storage ID 'local' is defined twice (first at line 1); "
        + "storage IDs must be unique", e.getMessage());
  }

  @Test
  void anEmptyFileHasNoStorages() {
    StorageConfig config = StorageConfigParser.parse("", "cfg");
    assertTrue(config.storages().isEmpty());
  }

  private static List<String> ids(List<StorageDefinition> storages) {
    return storages.stream().map(StorageDefinition::storeId).toList();
  }
}
