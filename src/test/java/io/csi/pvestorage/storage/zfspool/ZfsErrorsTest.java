package io.csi.pvestorage.storage.zfspool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The error table of {@link ZfsErrors}, pinned on stderr recorded from OpenZFS 2.1.11: each
 * row is a fixture and the kind it must map to. The message keeps the tool's words.
 */
class ZfsErrorsTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "zfs-create-existing, ALREADY_EXISTS",
      "zfs-snapshot-existing, ALREADY_EXISTS",
      "zfs-destroy-missing, NOT_FOUND",
      "zfs-destroy-missing-snapshot, NOT_FOUND",
      "zfs-list-missing, NOT_FOUND",
      "zfs-create-missing-parent, NOT_FOUND",
      "zfs-create-missing-pool, UNAVAILABLE",
      "zfs-list-no-such-pool, NOT_FOUND",
      "zfs-create-out-of-space, EXHAUSTED",
      "zfs-set-volsize-out-of-space, EXHAUSTED",
      "zfs-set-refquota-below-used, OUT_OF_RANGE",
      "zfs-destroy-busy, PRECONDITION",
      "zfs-destroy-snapshot-with-clone, PRECONDITION",
      "zfs-destroy-volume-with-snapshot, PRECONDITION",
      "zfs-destroy-volume-with-cloned-snapshot, PRECONDITION",
      "zfs-set-refquota-zero, INVALID",
      "zfs-clone-refquota-zero, INVALID",
      "zfs-create-size-zero, INVALID",
      "zfs-create-invalid-property, INVALID",
      "zfs-set-bad-number, INVALID",
  })
  void recordedStderrMapsToItsKind(String fixture, ErrorKind kind) {
    Fixture f = Fixture.load(fixture);
    assertNotEquals(0, f.exit(), "a failure fixture");
    assertEquals(kind, ZfsErrors.classify(f.result()), f.stderrText());
    StorageException e = ZfsErrors.failure(f.result(), "operation failed");
    assertEquals(kind, e.kind());
    assertEquals(f.argv(), e.command());
    assertTrue(e.describe().contains(f.stderrText().lines().findFirst().orElseThrow()),
        e.describe());
  }

  @ParameterizedTest
  @CsvSource({
      "zfs-destroy-busy, true, false",
      "zfs-destroy-missing, false, true",
      "zfs-destroy-missing-snapshot, false, true",
      "zfs-create-missing-pool, false, false",
      "zfs-destroy-snapshot-with-clone, false, false",
  })
  void busyAndMissingAreTheOnesDeletesTolerate(String fixture, boolean busy, boolean missing) {
    Fixture f = Fixture.load(fixture);
    assertEquals(busy, ZfsErrors.isBusy(f.result()));
    assertEquals(missing, ZfsErrors.isMissing(f.result()));
  }

  @ParameterizedTest
  @CsvSource({"zfs-version", "zfs-get-mounted", "zfs-promote", "zfs-create-unaligned"})
  void successIsNeverMissingOrBusy(String fixture) {
    Fixture f = Fixture.load(fixture);
    assertFalse(ZfsErrors.isBusy(f.result()) || ZfsErrors.isMissing(f.result()));
  }
}
