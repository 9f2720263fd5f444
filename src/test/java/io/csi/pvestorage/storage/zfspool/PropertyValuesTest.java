package io.csi.pvestorage.storage.zfspool;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class PropertyValuesTest {

  @ParameterizedTest
  @ValueSource(strings = {"pvc-0f3e2a", "-", "%", "%41", "a b", "tab\there", "new\nline",
      "claim-ä", "名前", "emoji-\uD83D\uDE00", "x=y,z", "'\"\\"})
  void roundTripsAndStaysOneTabFreeToken(String text) {
    String encoded = PropertyValues.encode(text);
    assertEquals(Optional.of(text), PropertyValues.decode(encoded));
    assertEquals(true, encoded.chars().allMatch(c -> c > 0x20 && c < 0x7f), encoded);
  }

  @ParameterizedTest
  @CsvSource({"pvc-1, pvc-1", "'a b', a%20b", "-, %2D", "'tab\there', tab%09here",
      "ä, %C3%A4", "100%, 100%25"})
  void encodesOnlyWhatMustBe(String text, String encoded) {
    assertEquals(encoded, PropertyValues.encode(text));
  }

  @ParameterizedTest
  @ValueSource(strings = {"-", ""})
  void unsetReadsAsEmpty(String column) {
    assertEquals(Optional.empty(), PropertyValues.decode(column));
  }

  @ParameterizedTest
  @CsvSource({"50%, 50%", "%zz, %zz", "%4, %4"})
  void handSetValuesWithStrayPercentSignsAreKept(String column, String text) {
    assertEquals(Optional.of(text), PropertyValues.decode(column));
  }
}
