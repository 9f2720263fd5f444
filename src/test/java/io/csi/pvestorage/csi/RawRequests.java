package io.csi.pvestorage.csi;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/** Calls with raw bytes as the request message, as a broken or hostile client sends them. */
public final class RawRequests {

  /** Bytes in and out as they are. */
  private static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };

  private RawRequests() {}

  /**
   * Calls {@code method} with {@code request} as the message's bytes and returns the response's
   * bytes.
   *
   * @throws io.grpc.StatusRuntimeException with the status the server answered
   */
  public static byte[] call(Channel channel, MethodDescriptor<?, ?> method, byte[] request,
      CallOptions options) {
    return ClientCalls.blockingUnaryCall(channel, method.toBuilder(RAW, RAW).build(), options,
        request);
  }
}
