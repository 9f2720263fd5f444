package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** StorageClass parameters and volume capabilities, checked before anything runs. */
class VolumeRequestValidationTest {

  /** A mount capability (shared with NodeServiceTest). */
  static VolumeCapability mount(String fs, Mode mode) {
    return VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
        .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(mode)).build();
  }

  /** A block capability (shared with NodeServiceTest). */
  static VolumeCapability block(Mode mode) {
    return VolumeCapability.newBuilder()
        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
        .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(mode)).build();
  }

  @Test
  void parametersAreTyped() {
    VolumeParameters p = VolumeParameters.parse(Map.of(
        "storage", "local-zfs", "fsType", "XFS", "volblocksize", "16k", "sparse", "true",
        "owner", "9000",
        "csi.storage.k8s.io/pvc/name", "data-db-0",
        "csi.storage.k8s.io/pvc/namespace", "shop",
        "csi.storage.k8s.io/pv/name", "pvc-1234",
        "csi.storage.k8s.io/future-key", "ignored"));
    assertEquals("local-zfs", p.storage());
    assertEquals(Optional.of("xfs"), p.fsType());
    assertEquals(OptionalLong.of(16384), p.volBlockSize());
    assertEquals(Optional.of(true), p.sparse());
    assertEquals(OptionalLong.of(9000), p.owner());
    assertEquals(Optional.of("data-db-0"), p.pvcName());
    assertEquals(Optional.of("shop"), p.pvcNamespace());
    assertEquals(Optional.of("pvc-1234"), p.pvName());
  }

  @ParameterizedTest(name = "volblocksize {0}")
  @CsvSource({"16k, 16384", "16Ki, 16384", "1M, 1048576", "1Mi, 1048576", "512, 512"})
  void blockSizesAreReadAsKubernetesQuantitiesOrInZfsSpelling(String text, long bytes) {
    assertEquals(OptionalLong.of(bytes), VolumeParameters.parse(
        Map.of("storage", "z1", "volblocksize", text)).volBlockSize());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      missing storage   | fsType=ext4                  | StorageClass parameter 'storage' is required: name an lvmthin or zfspool storage of storage.cfg, e.g. storage: local-lvm
      unknown key       | storage=local-lvm,thin=yes   | unknown StorageClass parameter 'thin'; accepted: storage, fsType, volblocksize, sparse, owner, encryption
      bad encryption    | storage=local-lvm,encryption=aes | StorageClass parameter encryption='aes' is not supported; use luks2 (LVM-thin volumes and zvols), zfs-native (ZFS datasets) or none
      bad fs            | storage=local-lvm,fsType=ntfs | StorageClass parameter fsType='ntfs' is not supported; use ext4, xfs, or zfs (a ZFS dataset)
      bad block size    | storage=z1,volblocksize=3k   | StorageClass parameter volblocksize='3k' must be a power of two from 512 to 16M, e.g. 16Ki or 16k
      decimal block size | storage=z1,volblocksize=16000 | StorageClass parameter volblocksize='16000' must be a power of two from 512 to 16M, e.g. 16Ki or 16k
      bad sparse        | storage=z1,sparse=maybe      | StorageClass parameter sparse='maybe' must be true or false
      bad owner         | storage=z1,owner=-5          | StorageClass parameter owner='-5' must be an integer from 0 to 999999999
      bad storage id    | storage=9lives               | StorageClass parameter storage='9lives' is not a storage ID
      """)
  void badParametersAreInvalidAndNamed(String what, String pairs, String message) {
    Map<String, String> map = new java.util.HashMap<>();
    for (String pair : pairs.split(",")) {
      String[] kv = pair.split("=", 2);
      map.put(kv[0], kv[1]);
    }
    StorageException e = assertThrows(StorageException.class, () -> VolumeParameters.parse(map));
    assertEquals(ErrorKind.INVALID, e.kind(), what);
    assertEquals(message, e.getMessage(), what);
  }

  @Test
  void mountDefaultsToExt4OnARawVolume() {
    VolumeAccess a = VolumeAccess.of(List.of(mount("", Mode.SINGLE_NODE_WRITER)), Optional.empty(),
        "lvmthin");
    assertEquals(Optional.of("ext4"), a.fsType());
    assertEquals(ImageFormat.RAW, a.format());
    assertTrue(a.mount() && !a.block());
  }

  @Test
  void theStorageClassFsTypeFillsAnEmptyCapability() {
    assertEquals(Optional.of("xfs"), VolumeAccess.of(List.of(mount("", Mode.SINGLE_NODE_WRITER)),
        Optional.of("xfs"), "lvmthin").fsType());
  }

  @Test
  void zfsIsADatasetOnZfsPoolsOnly() {
    VolumeAccess a = VolumeAccess.of(List.of(mount("zfs", Mode.SINGLE_NODE_SINGLE_WRITER)),
        Optional.empty(), "zfspool");
    assertEquals(ImageFormat.SUBVOL, a.format());
    StorageException e = assertThrows(StorageException.class, () -> VolumeAccess.of(
        List.of(mount("zfs", Mode.SINGLE_NODE_WRITER)), Optional.empty(), "lvmthin"));
    assertEquals("fsType zfs needs a zfspool storage; this storage is lvmthin (use ext4 or xfs)",
        e.getMessage());
  }

  @Test
  void blockIsRawAndHasNoFilesystem() {
    VolumeAccess a = VolumeAccess.of(List.of(block(Mode.SINGLE_NODE_WRITER)), Optional.of("xfs"),
        "zfspool");
    assertEquals(ImageFormat.RAW, a.format());
    assertEquals(Optional.empty(), a.fsType());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      MULTI_NODE_READER_ONLY
      MULTI_NODE_SINGLE_WRITER
      MULTI_NODE_MULTI_WRITER
      """)
  void multiNodeModesAreRefused(Mode mode) {
    StorageException e = assertThrows(StorageException.class,
        () -> VolumeAccess.of(List.of(mount("ext4", mode)), Optional.empty(), "lvmthin"));
    assertEquals(ErrorKind.INVALID, e.kind());
    assertTrue(e.getMessage().startsWith("access mode " + mode + " is not supported"));
  }

  @Test
  void malformedCapabilitiesAreRefused() {
    assertThrows(StorageException.class,
        () -> VolumeAccess.of(List.of(), Optional.empty(), "lvmthin"));
    VolumeCapability noType = VolumeCapability.newBuilder().setAccessMode(
        VolumeCapability.AccessMode.newBuilder().setMode(Mode.SINGLE_NODE_WRITER)).build();
    assertEquals("a volume capability needs an access type, block or mount",
        assertThrows(StorageException.class,
            () -> VolumeAccess.of(List.of(noType), Optional.empty(), "lvmthin")).getMessage());
    VolumeCapability noMode = VolumeCapability.newBuilder()
        .setBlock(VolumeCapability.BlockVolume.getDefaultInstance()).build();
    assertEquals("a volume capability needs an access mode", assertThrows(StorageException.class,
        () -> VolumeAccess.of(List.of(noMode), Optional.empty(), "lvmthin")).getMessage());
    assertEquals("capabilities ask for two filesystems, ext4 and xfs; a volume has one",
        assertThrows(StorageException.class, () -> VolumeAccess.of(List.of(
            mount("ext4", Mode.SINGLE_NODE_WRITER), mount("xfs", Mode.SINGLE_NODE_WRITER)),
            Optional.empty(), "lvmthin")).getMessage());
    assertEquals("the volume capability asks for fsType ext4 but the StorageClass parameter "
        + "fsType is xfs", assertThrows(StorageException.class, () -> VolumeAccess.of(
            List.of(mount("ext4", Mode.SINGLE_NODE_WRITER)), Optional.of("xfs"), "lvmthin"))
        .getMessage());
    assertEquals("fsType zfs is a dataset and cannot also be used as a block device",
        assertThrows(StorageException.class, () -> VolumeAccess.of(List.of(
            mount("zfs", Mode.SINGLE_NODE_WRITER), block(Mode.SINGLE_NODE_WRITER)),
            Optional.empty(), "zfspool")).getMessage());
    VolumeCapability badFlag = VolumeCapability.newBuilder()
        .setMount(VolumeCapability.MountVolume.newBuilder().addMountFlags("noatime\n"))
        .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(Mode.SINGLE_NODE_WRITER))
        .build();
    assertThrows(StorageException.class,
        () -> VolumeAccess.of(List.of(badFlag), Optional.empty(), "lvmthin"));
  }
}
