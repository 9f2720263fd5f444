package io.csi.pvestorage.app;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Bounds the CSI calls served at once by this process, over all connections: one more is
 * answered RESOURCE_EXHAUSTED at once, naming the limit, without reading its request. The
 * per-connection bound (HTTP/2 MAX_CONCURRENT_STREAMS, set to the same number) already makes a
 * well-behaved client queue its own calls; this one covers many clients together.
 *
 * <p>A call counts from its start until its handler closes it, or, for a cancelled call, until
 * the listener hears of the cancellation, which grpc delivers only after the handler has
 * returned: a cancelled call whose handler still waits for a storage command keeps its place.
 * The place is given back before the status is sent, so a client that starts its next call when
 * the previous one ended always finds it free.
 */
final class ConcurrentCallLimit implements ServerInterceptor {

  private final int limit;
  private final Semaphore permits;

  ConcurrentCallLimit(int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("the call limit must be at least 1");
    }
    this.limit = limit;
    this.permits = new Semaphore(limit);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    if (!permits.tryAcquire()) {
      call.close(Status.RESOURCE_EXHAUSTED.withDescription("the driver is already serving "
          + limit + " calls (--max-calls); retry later"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    AtomicBoolean released = new AtomicBoolean();
    Runnable release = () -> {
      if (released.compareAndSet(false, true)) {
        permits.release();
      }
    };
    ServerCall<Q, R> counted = new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        release.run();
        super.close(status, trailers);
      }
    };
    ServerCall.Listener<Q> delegate;
    try {
      delegate = next.startCall(counted, headers);
    } catch (RuntimeException | Error e) {
      release.run();
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onComplete() {
        try {
          super.onComplete();
        } finally {
          release.run();
        }
      }

      @Override
      public void onCancel() {
        try {
          super.onCancel();
        } finally {
          release.run();
        }
      }
    };
  }

  /** Calls that may start now (for tests). */
  int available() {
    return permits.availablePermits();
  }
}
