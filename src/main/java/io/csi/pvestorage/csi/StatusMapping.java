package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;

/**
 * The one place where failures become gRPC statuses.
 *
 * <table>
 *   <caption>Error kind to gRPC code</caption>
 *   <tr><th>kind</th><th>code</th><th>CSI sidecar reaction</th></tr>
 *   <tr><td>INVALID</td><td>INVALID_ARGUMENT</td><td>final; the request must change</td></tr>
 *   <tr><td>NOT_FOUND</td><td>NOT_FOUND</td><td>final</td></tr>
 *   <tr><td>ALREADY_EXISTS</td><td>ALREADY_EXISTS</td><td>final</td></tr>
 *   <tr><td>EXHAUSTED</td><td>RESOURCE_EXHAUSTED</td><td>provisioner reschedules the pod</td></tr>
 *   <tr><td>OUT_OF_RANGE</td><td>OUT_OF_RANGE</td><td>final</td></tr>
 *   <tr><td>PRECONDITION</td><td>FAILED_PRECONDITION</td><td>final until the state changes</td></tr>
 *   <tr><td>ABORTED</td><td>ABORTED</td><td>retried with backoff</td></tr>
 *   <tr><td>UNAVAILABLE</td><td>UNAVAILABLE</td><td>retried with backoff</td></tr>
 *   <tr><td>INTERNAL</td><td>INTERNAL</td><td>final; a bug or an unclassified tool failure</td></tr>
 * </table>
 *
 * <p>Any other exception becomes INTERNAL with its message: no RPC answers UNKNOWN.
 *
 * <p>Every status a client receives passes {@link #forClient}, which makes its description safe
 * to echo ({@link SafeText}): the call's secrets removed, control characters escaped, long
 * request text cut to its beginning and length.
 */
public final class StatusMapping {

  private StatusMapping() {}

  /** The gRPC code of an error kind. */
  public static Status.Code code(ErrorKind kind) {
    return switch (kind) {
      case INVALID -> Status.Code.INVALID_ARGUMENT;
      case NOT_FOUND -> Status.Code.NOT_FOUND;
      case ALREADY_EXISTS -> Status.Code.ALREADY_EXISTS;
      case EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
      case OUT_OF_RANGE -> Status.Code.OUT_OF_RANGE;
      case PRECONDITION -> Status.Code.FAILED_PRECONDITION;
      case ABORTED -> Status.Code.ABORTED;
      case UNAVAILABLE -> Status.Code.UNAVAILABLE;
      case INTERNAL -> Status.Code.INTERNAL;
    };
  }

  /**
   * The status for any failure: a status exception passes through (an UNKNOWN one becomes
   * INTERNAL), a {@link StorageException} is mapped by kind with the tool's stderr in the
   * description, anything else is INTERNAL naming the exception.
   */
  public static Status toStatus(Throwable failure) {
    if (failure instanceof StatusRuntimeException e) {
      return known(e.getStatus(), failure);
    }
    if (failure instanceof StatusException e) {
      return known(e.getStatus(), failure);
    }
    if (failure instanceof StorageException e) {
      return Status.fromCode(code(e.kind())).withDescription(e.describe()).withCause(e);
    }
    String message = failure.getMessage() == null ? "" : ": " + failure.getMessage();
    return Status.INTERNAL
        .withDescription("internal error, " + failure.getClass().getSimpleName() + message)
        .withCause(failure);
  }

  /**
   * The status as a client receives it: UNKNOWN mapped as {@link #toStatus} maps it (by its cause
   * when it has one), and the description made safe to echo.
   *
   * @param sensitive the secrets and mount flag values of the call's request
   */
  static Status forClient(Status status, Redaction.Sensitive sensitive) {
    Status mapped = status;
    if (status.getCode() == Status.Code.UNKNOWN) {
      mapped = toStatus(status.getCause() != null ? status.getCause()
          : status.asRuntimeException());
    }
    if (mapped.getDescription() == null) {
      return mapped;
    }
    return mapped.withDescription(SafeText.description(mapped.getDescription(), sensitive));
  }

  private static Status known(Status status, Throwable failure) {
    if (status.getCode() == Status.Code.UNKNOWN) {
      String description = status.getDescription() == null ? "unknown failure" : status.getDescription();
      return Status.INTERNAL.withDescription(description).withCause(failure);
    }
    return status;
  }
}
