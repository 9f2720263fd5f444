package io.csi.pvestorage.csi;

import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import io.grpc.Context;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Wraps every CSI call:
 *
 * <ul>
 *   <li>logs method, duration and status code (Probe only at debug, request bodies only at debug
 *       and with secrets removed);
 *   <li>turns any exception a handler throws, and any UNKNOWN status, into the mapped status
 *       ({@link StatusMapping}), so no RPC ever answers UNKNOWN;
 *   <li>interrupts the handler's thread when the client cancels or its deadline passes: a
 *       running read-only command is killed, one that changes storage runs to its end and the
 *       call stops at the next command boundary (the exec layer's kill policy, {@link
 *       io.csi.pvestorage.exec.CommandRunner});
 *   <li>reports each call to the {@link RpcObserver}.
 * </ul>
 */
public final class CallInterceptor implements ServerInterceptor {

  private static final System.Logger LOG = System.getLogger(CallInterceptor.class.getName());

  private final RpcObserver observer;

  public CallInterceptor(RpcObserver observer) {
    this.observer = Objects.requireNonNull(observer, "observer");
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getBareMethodName();
    Level level = "Probe".equals(method) ? Level.DEBUG : Level.INFO;
    long start = System.nanoTime();
    AtomicBoolean closed = new AtomicBoolean();

    ServerCall<Q, R> guarded = new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        if (!closed.compareAndSet(false, true)) {
          return;
        }
        Status sent = status;
        if (status.getCode() == Status.Code.UNKNOWN) {
          sent = StatusMapping.toStatus(
              status.getCause() != null ? status.getCause() : status.asRuntimeException());
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        observer.rpcFinished(method, sent.getCode(), took);
        if (sent.isOk()) {
          LOG.log(level, () -> method + " OK in " + took.toMillis() + " ms");
        } else {
          Status failed = sent;
          Level failLevel = failed.getCode() == Status.Code.INTERNAL ? Level.ERROR : Level.WARNING;
          LOG.log(failLevel, () -> method + " " + failed.getCode() + " in " + took.toMillis()
              + " ms: " + failed.getDescription());
        }
        super.close(sent, trailers);
      }
    };

    ServerCall.Listener<Q> delegate = next.startCall(guarded, headers);
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onMessage(Q message) {
        if (message instanceof Message m && LOG.isLoggable(Level.DEBUG)) {
          LOG.log(Level.DEBUG, () -> method + " request: "
              + TextFormat.printer().emittingSingleLine(true).printToString(Redaction.redact(m)));
        }
        guard(() -> super.onMessage(message));
      }

      @Override
      public void onHalfClose() {
        guard(super::onHalfClose);
      }

      private void guard(Runnable step) {
        Thread worker = Thread.currentThread();
        Context.CancellationListener interrupt = context -> worker.interrupt();
        Context context = Context.current();
        context.addListener(interrupt, Runnable::run);
        try {
          step.run();
        } catch (RuntimeException | Error e) {
          guarded.close(StatusMapping.toStatus(e), new Metadata());
        } finally {
          context.removeListener(interrupt);
          // The thread goes back to the pool: do not leak a cancellation into the next call.
          Thread.interrupted();
        }
      }
    };
  }
}
