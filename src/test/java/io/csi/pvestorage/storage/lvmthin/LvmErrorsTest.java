package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.lvmthin.LvmErrors.Failure;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Pins the table of {@link LvmErrors} to stderr recorded from lvm2 2.03.16. */
class LvmErrorsTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "lvcreate-existing,                       ALREADY_EXISTS",
      "plugin-lvcreate-existing,                ALREADY_EXISTS",
      "plugin-lvrename-existing,                ALREADY_EXISTS",
      "lvcreate-missing-pool,                   POOL_NOT_FOUND",
      "plugin-lvcreate-missing-pool,            POOL_NOT_FOUND",
      "lvcreate-missing-vg,                     VG_NOT_FOUND",
      "plugin-lvs-missing-vg,                   VG_NOT_FOUND",
      "lvremove-missing,                        LV_NOT_FOUND",
      "plugin-lvremove-missing,                 LV_NOT_FOUND",
      "lvs-missing,                             LV_NOT_FOUND",
      "plugin-lvchange-activate-missing,        LV_NOT_FOUND",
      "plugin-lvcreate-snapshot-missing-origin, LV_NOT_FOUND",
      "lvcreate-in-full-pool,                   NO_SPACE",
      "lvcreate-thick-larger-than-vg,           NO_SPACE",
      "lvremove-open,                           IN_USE",
      "plugin-lvremove-open,                    IN_USE",
      "lvextend-smaller,                        SIZE_NOT_LARGER",
      "lvextend-equal,                          SIZE_NOT_LARGER",
      "plugin-lvextend-smaller,                 SIZE_NOT_LARGER",
      "plugin-lvextend-equal,                   SIZE_NOT_LARGER",
      "lvcreate-tag-with-comma,                 OTHER"})
  void recordedFailuresAreClassified(String fixtureName, Failure expected) {
    Fixture fixture = Fixture.load("lvm", "2.03.16", fixtureName);
    assertNotEquals(0, fixture.exitCode(), "a failure fixture");
    CommandResult result = replay(fixture);

    assertEquals(expected, LvmErrors.classify(result), fixture.stderrText());
    StorageException e = LvmErrors.failure(result, "doing it");
    assertEquals(expected.kind(), e.kind());
    assertEquals(fixture.stderrText().strip(), e.stderr(), "LVM's own words are kept");
    assertEquals(fixture.argv(), e.command());
    assertTrue(e.getMessage().startsWith("doing it: "), e.getMessage());
    assertTrue(e.describe().contains(fixture.stderrText().strip()), e.describe());
  }

  static CommandResult replay(Fixture fixture) {
    return new CommandResult(Command.of(Duration.ofSeconds(1), fixture.argv()), fixture.exitCode(),
        fixture.stdout(), fixture.stderr(), Duration.ZERO);
  }
}
