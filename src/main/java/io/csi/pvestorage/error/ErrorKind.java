package io.csi.pvestorage.error;

/**
 * What went wrong, in terms a caller can act on. Every failure of the storage, node and lock
 * layers is classified into exactly one kind; the CSI layer turns the kind into a gRPC status
 * code in one place ({@code io.csi.pvestorage.csi.StatusMapping}).
 */
public enum ErrorKind {
  /** The request itself is wrong (a name, size, parameter or ID); retrying it cannot help. */
  INVALID,
  /** The volume, snapshot, storage or pool addressed does not exist. */
  NOT_FOUND,
  /** Something with that name exists and is incompatible with the request. */
  ALREADY_EXISTS,
  /** Not enough room: the pool is full or past its headroom policy, or the node lacks it. */
  EXHAUSTED,
  /** A size is outside what is allowed (e.g. shrinking, or smaller than a snapshot). */
  OUT_OF_RANGE,
  /** The system is not in a state that allows the operation (e.g. snapshots block it). */
  PRECONDITION,
  /** The operation was cut short (lock wait deadline, concurrent call, cancellation). */
  ABORTED,
  /** A transient failure: a timeout, the API server or a tool is unreachable; retry later. */
  UNAVAILABLE,
  /** Anything else: a bug, or a tool failure we could not classify. */
  INTERNAL
}
