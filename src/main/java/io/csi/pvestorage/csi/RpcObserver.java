package io.csi.pvestorage.csi;

import io.grpc.Status;
import java.time.Duration;

/** Told about every finished RPC; the metrics layer implements it. */
@FunctionalInterface
public interface RpcObserver {

  RpcObserver NONE = (method, code, duration) -> {};

  /**
   * @param method the bare RPC name, e.g. {@code CreateVolume}
   * @param code the status code sent
   * @param duration from the call's arrival to its close
   */
  void rpcFinished(String method, Status.Code code, Duration duration);
}
