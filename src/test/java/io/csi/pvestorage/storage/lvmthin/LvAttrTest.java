package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.lvmthin.LvAttr.VolumeType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class LvAttrTest {

  /** Every attr string seen in the recorded fixtures, plus a plain LV. */
  @ParameterizedTest
  @CsvSource({
      "twi-a-tz--, THIN_POOL,   true,  true,  false, false",
      "twi-aotz--, THIN_POOL,   true,  true,  true,  false",
      "twi-aotzD-, THIN_POOL,   true,  true,  true,  false",
      "Vwi-a-tz--, THIN_VOLUME, true,  true,  false, false",
      "Vwi---tz--, THIN_VOLUME, true,  false, false, false",
      "Vwi---tz-k, THIN_VOLUME, true,  false, false, true",
      "Vri---tz-k, THIN_VOLUME, false, false, false, true",
      "Vri-a-tz-k, THIN_VOLUME, false, true,  false, true",
      "-wi-ao----, OTHER,       true,  true,  true,  false"})
  void decodesTheBitsTheBackendUses(String text, VolumeType type, boolean writable,
      boolean active, boolean open, boolean skip) {
    LvAttr attr = LvAttr.parse(text);
    assertEquals(new LvAttr(type, writable, active, open, skip, text), attr);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Vwi-a-tz-", "Vwi-a-tz--x"})
  void refusesWhatIsNotTenCharacters(String text) {
    assertThrows(StorageException.class, () -> LvAttr.parse(text));
  }
}
