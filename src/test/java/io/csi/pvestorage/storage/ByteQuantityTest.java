package io.csi.pvestorage.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ByteQuantityTest {

  @ParameterizedTest(name = "{0} = {1}")
  @CsvSource({
      "0, 0",
      "4096, 4096",
      "1Ki, 1024",
      "512Mi, 536870912",
      "1Gi, 1073741824",
      "2Ti, 2199023255552",
      "1Pi, 1125899906842624",
      "1k, 1000",
      "500M, 500000000",
      "10G, 10000000000",
      "3T, 3000000000000",
      "1.5Gi, 1610612736",
      // Kubernetes rounds a fractional byte count up; so does the driver
      "0.1Ki, 103",
      "1.0000000001k, 1001",
      "7E, 7000000000000000000"})
  void readsKubernetesQuantities(String text, long bytes) {
    assertEquals(bytes, ByteQuantity.parse(text));
  }

  @ParameterizedTest(name = "block size {0} = {1}")
  @CsvSource({
      "512, 512",
      "16k, 16384",
      "16K, 16384",
      "16Ki, 16384",
      "1M, 1048576",
      "1Mi, 1048576",
      "128k, 131072"})
  void readsBlockSizesTheWayZfsWritesThem(String text, long bytes) {
    assertEquals(bytes, ByteQuantity.parseBlockSize(text));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " ", "-1", "1 Gi", "1GB", "1gi", "Gi", "1.Gi", ".5Gi", "1e3",
      "0x10", "1KiB", "8Ei", "99999999999999999999", "10K"})
  void refusesWhatIsNoQuantity(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ByteQuantity.parse(text));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"16kb", "-16k", "16.5.1k", "9E"})
  void refusesBadBlockSizes(String text) {
    assertThrows(IllegalArgumentException.class, () -> ByteQuantity.parseBlockSize(text));
  }
}
