package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.app.Flags.UsageException;
import io.csi.pvestorage.exec.FaultPoint;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The crash suite's flag cannot switch the fault point on alone, and is off by default. */
class FaultInjectionConfigTest {

  private static final Map<String, String> ENABLED =
      Map.of(FaultPoint.ENABLE_ENV, FaultPoint.ENABLE_VALUE);

  @Test
  void offUnlessTheFlagIsGiven() {
    assertEquals(Optional.empty(), DriverConfig.faultInjectionDir(List.of("--node-id=n"), ENABLED));
  }

  @Test
  void theFlagWithoutItsEnvironmentVariableIsRefused() {
    for (Map<String, String> env : List.of(Map.<String, String>of(),
        Map.of(FaultPoint.ENABLE_ENV, "1"), Map.of(FaultPoint.ENABLE_ENV, "true"))) {
      UsageException e = assertThrows(UsageException.class, () -> DriverConfig.faultInjectionDir(
          List.of("--node-id=n", "--fault-injection-dir=/tmp/f"), env));
      assertTrue(e.getMessage().contains(FaultPoint.ENABLE_ENV + "=" + FaultPoint.ENABLE_VALUE),
          e.getMessage());
    }
  }

  @Test
  void withBothItIsAnAbsoluteDirectory() {
    assertEquals(Optional.of(Path.of("/tmp/f")), DriverConfig.faultInjectionDir(
        List.of("--node-id=n", "--fault-injection-dir", "/tmp/f"), ENABLED));
    assertThrows(UsageException.class, () -> DriverConfig.faultInjectionDir(
        List.of("--fault-injection-dir=tmp/f"), ENABLED));
  }

  @Test
  void theHelpSaysItIsForTestsOnly() {
    assertTrue(DriverConfig.help().contains("TEST ONLY"), DriverConfig.help());
  }
}
