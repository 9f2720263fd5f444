package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.grpc.Status;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StatusMappingTest {

  @Test
  void everyKindHasItsDocumentedCode() {
    Map<ErrorKind, Status.Code> expected = new EnumMap<>(ErrorKind.class);
    expected.put(ErrorKind.INVALID, Status.Code.INVALID_ARGUMENT);
    expected.put(ErrorKind.NOT_FOUND, Status.Code.NOT_FOUND);
    expected.put(ErrorKind.ALREADY_EXISTS, Status.Code.ALREADY_EXISTS);
    expected.put(ErrorKind.EXHAUSTED, Status.Code.RESOURCE_EXHAUSTED);
    expected.put(ErrorKind.OUT_OF_RANGE, Status.Code.OUT_OF_RANGE);
    expected.put(ErrorKind.PRECONDITION, Status.Code.FAILED_PRECONDITION);
    expected.put(ErrorKind.ABORTED, Status.Code.ABORTED);
    expected.put(ErrorKind.UNAVAILABLE, Status.Code.UNAVAILABLE);
    expected.put(ErrorKind.INTERNAL, Status.Code.INTERNAL);
    assertEquals(ErrorKind.values().length, expected.size(), "a new kind needs a pinned code");
    expected.forEach((kind, code) -> assertEquals(code, StatusMapping.code(kind), kind.name()));
  }

  @Test
  void aCommandFailureCarriesCommandExitCodeAndStderr() {
    StorageException e = StorageException.ofCommand(ErrorKind.NOT_FOUND, "volume vm-0-x not found",
        List.of("lvs", "pve/vm-0-x"), 5, "  Failed to find logical volume \"pve/vm-0-x\"\n");
    Status status = StatusMapping.toStatus(e);
    assertEquals(Status.Code.NOT_FOUND, status.getCode());
    assertEquals("volume vm-0-x not found [command: lvs pve/vm-0-x, exit 5]: "
        + "Failed to find logical volume \"pve/vm-0-x\"", status.getDescription());
  }

  @Test
  void unknownStatusesAndForeignExceptionsBecomeInternal() {
    assertEquals(Status.Code.INTERNAL,
        StatusMapping.toStatus(Status.UNKNOWN.withDescription("x").asRuntimeException()).getCode());
    Status npe = StatusMapping.toStatus(new NullPointerException("boom"));
    assertEquals(Status.Code.INTERNAL, npe.getCode());
    assertTrue(npe.getDescription().contains("NullPointerException: boom"), npe.getDescription());
    assertEquals(Status.Code.ABORTED,
        StatusMapping.toStatus(Status.ABORTED.asRuntimeException()).getCode(), "passes through");
  }

  @Test
  void whatAClientReceivesIsMappedEscapedAndBounded() {
    Status unknown = Status.UNKNOWN.withCause(new StorageException(ErrorKind.NOT_FOUND,
        "volume '" + "v".repeat(100_000) + "' is\tgone"));
    Status sent = StatusMapping.forClient(unknown, Redaction.Sensitive.NONE);
    assertEquals(Status.Code.NOT_FOUND, sent.getCode());
    assertEquals("volume '" + "v".repeat(SafeText.RUN_LIMIT - 1) + " ... (100002 bytes) is\\tgone",
        sent.getDescription());
    Status plain = Status.ABORTED.withDescription("lock held by pod-1");
    assertEquals(plain.getDescription(),
        StatusMapping.forClient(plain, Redaction.Sensitive.NONE).getDescription());
    assertEquals(Status.Code.INTERNAL,
        StatusMapping.forClient(Status.UNKNOWN, Redaction.Sensitive.NONE).getCode());
  }
}
