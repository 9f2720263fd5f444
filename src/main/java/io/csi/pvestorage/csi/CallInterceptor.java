package io.csi.pvestorage.csi;

import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Wraps every CSI call:
 *
 * <ul>
 *   <li>logs method, duration and status code (Probe only at debug, request bodies only at debug
 *       and with secrets removed);
 *   <li>turns any exception a handler throws, and any UNKNOWN status, into the mapped status
 *       ({@link StatusMapping}), so no RPC ever answers UNKNOWN; a request whose bytes do not
 *       parse (served through {@link #parsingLeniently}) answers INVALID_ARGUMENT;
 *   <li>makes every status description safe to echo ({@link StatusMapping#forClient}) and binds
 *       the request's secrets and mount flag values to the call's context, where the log
 *       formatter finds and removes them ({@link SafeText#logMessage});
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
    AtomicReference<Redaction.Sensitive> sensitive =
        new AtomicReference<>(Redaction.Sensitive.NONE);

    ServerCall<Q, R> guarded = new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        if (!closed.compareAndSet(false, true)) {
          return;
        }
        Status sent = status.isOk() ? status : StatusMapping.forClient(status, sensitive.get());
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
        if (message == null) {
          // The lenient marshaller's sign of bytes that are no such message.
          guarded.close(Status.INVALID_ARGUMENT.withDescription("the request is not a valid "
              + call.getMethodDescriptor().getFullMethodName() + " request: its bytes do not "
              + "parse as the protobuf message (a field of the wrong wire type, a truncated "
              + "message, or a string that is not UTF-8)"), new Metadata());
          return;
        }
        if (message instanceof Message m) {
          sensitive.set(Redaction.sensitiveValues(m));
          if (LOG.isLoggable(Level.DEBUG)) {
            LOG.log(Level.DEBUG, () -> method + " request: " + TextFormat.printer()
                .emittingSingleLine(true).printToString(Redaction.redact(m)));
          }
        }
        guard(() -> super.onMessage(message));
      }

      @Override
      public void onHalfClose() {
        guard(super::onHalfClose);
      }

      private void guard(Runnable step) {
        if (closed.get()) {
          // Answered already (a request that did not parse): the handler never runs.
          return;
        }
        Thread worker = Thread.currentThread();
        Context.CancellationListener interrupt = context -> worker.interrupt();
        Context context = Context.current();
        context.addListener(interrupt, Runnable::run);
        try {
          context.withValue(Redaction.SENSITIVE, sensitive.get()).run(step);
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

  /**
   * The service with request parsing that never throws. gRPC parses a request before any
   * interceptor sees it, and bytes that do not parse would end the call as UNKNOWN with no
   * interceptor involved; with this marshaller they arrive as {@code null}, which this
   * interceptor answers with INVALID_ARGUMENT. Serve the result only under this interceptor.
   */
  public static BindableService parsingLeniently(BindableService service) {
    ServerServiceDefinition definition = service.bindService();
    ServerServiceDefinition.Builder lenient = ServerServiceDefinition.builder(
        definition.getServiceDescriptor().getName());
    for (ServerMethodDefinition<?, ?> method : definition.getMethods()) {
      lenient.addMethod(lenient(method));
    }
    ServerServiceDefinition built = lenient.build();
    return () -> built;
  }

  private static <Q, R> ServerMethodDefinition<Q, R> lenient(ServerMethodDefinition<Q, R> method) {
    MethodDescriptor.Marshaller<Q> strict = method.getMethodDescriptor().getRequestMarshaller();
    MethodDescriptor.Marshaller<Q> nullOnFailure = new MethodDescriptor.Marshaller<>() {
      @Override
      public InputStream stream(Q value) {
        return strict.stream(value);
      }

      @Override
      public Q parse(InputStream stream) {
        try {
          return strict.parse(stream);
        } catch (RuntimeException e) {
          return null;
        }
      }
    };
    return ServerMethodDefinition.create(method.getMethodDescriptor().toBuilder()
        .setRequestMarshaller(nullOnFailure).build(), method.getServerCallHandler());
  }
}
