package io.csi.pvestorage.app;

import io.csi.pvestorage.exec.FaultPoint;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.util.Objects;

/**
 * TEST ONLY (installed only under {@code --fault-injection-dir}): lets the {@link FaultPoint}
 * see which method a call is. A unary handler runs in the listener's {@code onHalfClose}, on
 * the thread that then runs the call's commands, so the point counts exactly that call's
 * commands.
 */
final class FaultInjectionInterceptor implements ServerInterceptor {

  private final FaultPoint faults;

  FaultInjectionInterceptor(FaultPoint faults) {
    this.faults = Objects.requireNonNull(faults, "faults");
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getBareMethodName();
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
        next.startCall(call, headers)) {
      @Override
      public void onHalfClose() {
        faults.runCall(method, super::onHalfClose);
      }
    };
  }
}
