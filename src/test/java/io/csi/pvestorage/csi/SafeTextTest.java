package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.NodePublishVolumeRequest;
import csi.v1.VolumeCapability;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Echoed request text: escaped, cut to a bounded prefix, secrets removed. */
class SafeTextTest {

  @Test
  void controlCharactersAreEscapedSoNoLineCanBeForged() {
    assertEquals("name 'a\\nINFO forged\\tline\\r' \\u0000\\u001b[31m\\u007f\\u0085\\u2028 ok",
        SafeText.bounded("name 'a\nINFO forged\tline\r' \u0000\u001b[31m\u007f\u0085\u2028 ok",
            1000));
  }

  @Test
  void aMegabyteIdIsShownAsItsFirst256CharactersAndItsLength() {
    String id = "local-lvm:" + "x".repeat((1 << 20) - 10);
    String shown = SafeText.bounded("volume ID '" + id + "' is not of the form <storage>:<name>",
        SafeText.DESCRIPTION_LIMIT);
    String kept = ("'" + id).substring(0, SafeText.RUN_LIMIT);
    assertEquals("volume ID " + kept + " ... (1048578 bytes) is not of the form <storage>:<name>",
        shown,
        "the run is cut after 256 characters and the words after it stay whole");
  }

  @Test
  void aLongTextFullOfSpacesIsBoundedAsAWhole() {
    String text = "word ".repeat(100_000);
    String shown = SafeText.bounded(text, SafeText.DESCRIPTION_LIMIT);
    assertEquals(SafeText.DESCRIPTION_LIMIT + " ... (500000 bytes in all)".length(),
        shown.length());
    assertTrue(shown.endsWith(" ... (500000 bytes in all)"), shown);
  }

  @Test
  void boundingTwiceCutsOnce() {
    String once = SafeText.bounded("id " + "y".repeat(5000) + " end\n", 4096);
    assertEquals(once, SafeText.bounded(once, 4096));
  }

  @Test
  void aCharacterOutsideTheBasicPlaneIsNeverSplit() {
    String text = "a".repeat(SafeText.RUN_LIMIT - 1) + "\uD83D\uDE00" + "b".repeat(10);
    String shown = SafeText.bounded(text, 4096);
    assertTrue(shown.startsWith("a".repeat(SafeText.RUN_LIMIT - 1) + "\uD83D\uDE00 ... ("),
        shown);
    String utf8 = new String(shown.getBytes(java.nio.charset.StandardCharsets.UTF_8),
        java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(shown, utf8, "no lone surrogate");
  }

  @Test
  void shortTextStaysAsItIs() {
    String text = "volume local-lvm:vm-0-pvc-1 does not exist on node node-a (ünïcode kept)";
    assertEquals(text, SafeText.bounded(text, SafeText.DESCRIPTION_LIMIT));
    assertEquals("", SafeText.bounded(null, 10));
  }

  @Test
  void secretsAndMountFlagValuesAreRemovedButTheFlagStaysNamed() {
    NodePublishVolumeRequest request = NodePublishVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-0-a")
        .putSecrets("token", "s3cr3t token")
        .putSecrets("short", "q")
        .setVolumeCapability(VolumeCapability.newBuilder().setMount(VolumeCapability
            .MountVolume.newBuilder().addMountFlags("noatime")
            .addMountFlags("username=admin,password=hunter2").addMountFlags("uid=0")))
        .build();
    Redaction.Sensitive sensitive = Redaction.sensitiveValues(request);
    String shown = SafeText.description("mount flag 'password=hunter2' is not allowed; "
        + "hunter2 again, hunter2x stays a word of its own; admin user; token s3cr3t token; "
        + "q; uid=0 and exit 0 and 1073741824 bytes; noatime is fine", sensitive);
    assertEquals("mount flag 'password=<redacted>' is not allowed; <redacted> again, hunter2x "
        + "stays a word of its own; <redacted> user; token <redacted>; <redacted>; "
        + "uid=<redacted> and exit 0 and 1073741824 bytes; noatime is fine", shown);
    assertEquals(List.of("password=hunter2", "username=admin", "uid=0"), sensitive.options(),
        "longest first");
  }

  @Test
  void aRequestWithoutSecretsChangesNothing() {
    Redaction.Sensitive none = Redaction.sensitiveValues(NodePublishVolumeRequest.newBuilder()
        .setVolumeId("local-lvm:vm-0-a").build());
    assertTrue(none.isEmpty());
    assertEquals("local-lvm:vm-0-a", SafeText.description("local-lvm:vm-0-a", none));
    assertTrue(Redaction.currentSensitive().isEmpty(), "outside a call nothing is bound");
  }
}
