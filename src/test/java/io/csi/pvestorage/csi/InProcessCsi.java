package io.csi.pvestorage.csi;

import io.grpc.BindableService;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * An in-process server with the real interceptor and request parsing (as {@code serve} wires
 * them), and a channel to it; close after use.
 */
public final class InProcessCsi implements AutoCloseable {

  private final Server server;
  private final ManagedChannel channel;

  public InProcessCsi(RpcObserver observer, List<BindableService> services) throws IOException {
    String name = "csi-" + UUID.randomUUID();
    InProcessServerBuilder builder = InProcessServerBuilder.forName(name).directExecutor();
    CallInterceptor interceptor = new CallInterceptor(observer);
    for (BindableService service : services) {
      builder.addService(ServerInterceptors.intercept(CallInterceptor.parsingLeniently(service),
          interceptor));
    }
    server = builder.build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  public ManagedChannel channel() {
    return channel;
  }

  /**
   * Calls {@code method} with {@code request} as the message's bytes, as a broken or hostile
   * client would, and returns the response's bytes.
   *
   * @throws io.grpc.StatusRuntimeException with the status the server answered
   */
  public byte[] callWithBytes(MethodDescriptor<?, ?> method, byte[] request,
      CallOptions options) {
    return RawRequests.call(channel, method, request, options);
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow();
    server.shutdownNow();
    server.awaitTermination(5, TimeUnit.SECONDS);
  }
}
