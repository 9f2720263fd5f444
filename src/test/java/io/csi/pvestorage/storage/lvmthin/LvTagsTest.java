package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.VolumeMetadata;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LvTagsTest {

  /** lvm(8): the characters a tag may hold, at most 1024, not starting with '-'. */
  private static final Pattern LVM_TAG = Pattern.compile("[A-Za-z0-9_+.\\-/=!:#&]{1,1024}");

  @Test
  void plainValuesStayReadable() {
    List<String> tags = LvTags.encode(new VolumeMetadata("pvc-1234", Optional.of("team-a"),
        Optional.of("data.db-0"), Optional.of("pvc-1234")));
    assertEquals(List.of("pve-storage.csi.io/name=pvc-1234",
        "pve-storage.csi.io/pvc-namespace=team-a",
        "pve-storage.csi.io/pvc-name=data.db-0",
        "pve-storage.csi.io/pv-name=pvc-1234"), tags);
  }

  @Test
  void onlyTheCsiNameIsRequired() {
    assertEquals(List.of("pve-storage.csi.io/name=snap-1"),
        LvTags.encode(VolumeMetadata.of("snap-1")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"a,b", "with space", "ünïcödé", "b64:looks-encoded", "b64.looks-encoded", "x\"y",
      "semi;colon", "1", "a=b/c.d:e#f&g!h+i_j", "-leading-hyphen"})
  void everyValueRoundTripsThroughLvmsCharset(String value) {
    VolumeMetadata metadata = new VolumeMetadata(value, Optional.of(value), Optional.of(value),
        Optional.of(value));
    List<String> tags = LvTags.encode(metadata);
    for (String tag : tags) {
      assertTrue(LVM_TAG.matcher(tag).matches() && !tag.startsWith("-"), tag);
    }
    assertEquals(Optional.of(metadata), LvTags.decode(tags));
  }

  @Test
  void valuesOutsideTheCharsetAreBase64UnderAMarkedKey() {
    assertEquals("pve-storage.csi.io/name.b64=YSxi", LvTags.tag(LvTags.NAME, "a,b"));
    assertEquals("pve-storage.csi.io/name=b64.xy", LvTags.tag(LvTags.NAME, "b64.xy"),
        "the marker is on the key, so no value needs escaping for looking encoded");
    assertEquals("pve-storage.csi.io/name.b64=YjY0Onh5", LvTags.tag(LvTags.NAME, "b64:xy"));
  }

  /**
   * PVE splits its {@code lvs --separator :} lines on every ':', so no tag may carry one: not
   * in a value (base64 like a comma's) and not in the encoding's marker either.
   */
  @ParameterizedTest
  @ValueSource(strings = {"ns:claim", ":", "a:b:c", "pvc-1:", "a,b", "ünïcödé"})
  void noTagHoldsAColon(String value) {
    VolumeMetadata metadata = new VolumeMetadata(value, Optional.of(value), Optional.of(value),
        Optional.of(value));
    List<String> tags = LvTags.encode(metadata);
    for (String tag : tags) {
      assertFalse(tag.contains(":"), tag);
    }
    assertEquals("pve-storage.csi.io/name.b64=bnM6Y2xhaW0", LvTags.tag(LvTags.NAME, "ns:claim"));
    assertEquals(Optional.of(metadata), LvTags.decode(tags));
  }

  /** What earlier versions wrote: plain values with ':' and {@code b64:} values. */
  @Test
  void tagsWrittenBeforeStillDecode() {
    assertEquals(Optional.of(new VolumeMetadata("a:b", Optional.of("a,b"), Optional.of("c:d"),
        Optional.empty())), LvTags.decode(List.of("pve-storage.csi.io/name=a:b",
        "pve-storage.csi.io/pvc-namespace=b64:YSxi", "pve-storage.csi.io/pvc-name=c:d")));
    assertEquals(Optional.of(VolumeMetadata.of("b64:xy")),
        LvTags.decode(List.of("pve-storage.csi.io/name=b64:YjY0Onh5")));
  }

  @Test
  void foreignTagsAreIgnoredAndNoNameMeansNoMetadata() {
    assertEquals(Optional.empty(), LvTags.decode(List.of("pve-vm-100", "csi.k8s.io/pvc=x")));
    assertEquals(Optional.empty(), LvTags.decode(List.of("pve-storage.csi.io/pvc-name=x")));
    assertEquals(Optional.of(VolumeMetadata.of("n")),
        LvTags.decode(List.of("other=1", "pve-storage.csi.io/name=n", "pve-storage.csi.io/bogus")));
  }

  @Test
  void brokenBase64FromSomeoneElseIsSkipped() {
    assertEquals(Optional.empty(), LvTags.decode(List.of("pve-storage.csi.io/name=b64:***")));
    assertEquals(Optional.empty(), LvTags.decode(List.of("pve-storage.csi.io/name.b64=***")));
  }

  @Test
  void emptyOrOverlongValuesAreInvalid() {
    assertEquals(ErrorKind.INVALID,
        assertThrows(StorageException.class, () -> LvTags.encode(VolumeMetadata.of(""))).kind());
    String huge = "x".repeat(1100);
    assertEquals(ErrorKind.INVALID,
        assertThrows(StorageException.class, () -> LvTags.encode(VolumeMetadata.of(huge))).kind());
  }
}
