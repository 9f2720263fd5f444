package io.csi.pvestorage.node.crypt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.VolumeId;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The passphrase taken from a request's secrets, the mapping names and the parameter. */
class EncryptionKeyTest {

  private static final String PARAMETER = "csi.storage.k8s.io/node-stage-secret-name";

  @Test
  void thePassphraseIsTakenByteExactAndPrintsAsNothing() {
    String key = "  spaces and a newline\n";
    var secret = EncryptionKey.from(Map.of("encryptionPassphrase", key), PARAMETER, "s:vm-1-a");
    assertTrue(secret.sameBytes(key.getBytes(StandardCharsets.UTF_8)));
    assertEquals("<secret>", secret.toString());
  }

  @Test
  void aMissingEmptyOrMalformedSecretIsInvalidAndNeverQuoted() {
    String tooLong = "x".repeat(513);
    for (Map<String, String> secrets : java.util.List.of(Map.<String, String>of(),
        Map.of("other", "12345678"), Map.of("encryptionPassphrase", ""),
        Map.of("encryptionPassphrase", "seven77"), Map.of("encryptionPassphrase", tooLong),
        Map.of("encryptionPassphrase", "nul\0inside"))) {
      StorageException e = assertThrows(StorageException.class,
          () -> EncryptionKey.from(secrets, PARAMETER, "s:vm-1-a"));
      assertEquals(ErrorKind.INVALID, e.kind());
      assertTrue(e.getMessage().contains(PARAMETER) && e.getMessage().contains("s:vm-1-a"),
          e.getMessage());
      secrets.values().forEach(v -> assertFalse(!v.isEmpty() && e.getMessage().contains(v),
          e.getMessage()));
    }
    assertEquals(512, EncryptionKey.from(Map.of("encryptionPassphrase", "y".repeat(512)),
        PARAMETER, "v").bytes().length);
  }

  @Test
  void mappingNamesAreReadableDistinctPerStorageAndNeverLongerThanDeviceMapperTakes() {
    String a = LuksDevices.mapperName(VolumeId.parse("local-lvm:vm-100-disk-0"));
    String b = LuksDevices.mapperName(VolumeId.parse("other-lvm:vm-100-disk-0"));
    assertTrue(a.startsWith("pvecsi-vm-100-disk-0-") && a.length() == 29, a);
    assertFalse(a.equals(b), "the same volume name on two storages");
    assertEquals(a, LuksDevices.mapperName(VolumeId.parse("local-lvm:vm-100-disk-0")),
        "deterministic: unstage finds what stage opened");
    String odd = LuksDevices.mapperName(VolumeId.parse("st:vm-1-" + "n".repeat(110)));
    assertTrue(odd.matches("pvecsi-[0-9a-f]{8}"), odd);
    assertEquals("/dev/mapper/" + a, LuksDevices.mapperPath(a).value());
    assertThrows(IllegalArgumentException.class, () -> LuksDevices.mapperPath("../x"));
  }

  @Test
  void theParameterIsOneOfThreeWords() {
    assertEquals(Encryption.NONE, Encryption.parse(Optional.empty()));
    assertEquals(Encryption.LUKS2, Encryption.parse(Optional.of("luks2")));
    assertEquals(Encryption.ZFS_NATIVE, Encryption.parse(Optional.of("zfs-native")));
    assertEquals(ErrorKind.INVALID, assertThrows(StorageException.class,
        () -> Encryption.parse(Optional.of("LUKS2"))).kind());
    assertEquals(Encryption.NONE, Encryption.ofContext(Map.of("fsType", "ext4")));
  }
}
