package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ProbeRequest;
import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.IdentityService;
import io.csi.pvestorage.csi.Readiness;
import io.csi.pvestorage.csi.RpcObserver;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server on a real unix domain socket, driven through the generated stubs. */
class CsiServerTest {

  @TempDir Path dir;

  private static CsiServer start(Path socket, Readiness readiness) throws Exception {
    return CsiServer.start(new Endpoint.Unix(socket), PosixFilePermissions.fromString("rw-rw----"),
        List.of(new IdentityService("pve-storage.csi.io", "test", Map.of(), List.of(), readiness)),
        List.of(new CallInterceptor(RpcObserver.NONE)));
  }

  @Test
  void servesIdentityOnAUnixSocketAndRemovesItOnStop() throws Exception {
    Path socket = dir.resolve("sub/dir/csi.sock");
    Readiness readiness = new Readiness();
    readiness.markReady();
    CsiServer server = start(socket, readiness);
    assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));

    EpollEventLoopGroup loop = new EpollEventLoopGroup(1);
    ManagedChannel channel = NettyChannelBuilder
        .forAddress(new DomainSocketAddress(socket.toString()))
        .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();
    try {
      IdentityGrpc.IdentityBlockingStub stub = IdentityGrpc.newBlockingStub(channel)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      assertEquals("pve-storage.csi.io",
          stub.getPluginInfo(GetPluginInfoRequest.getDefaultInstance()).getName());
      assertTrue(stub.probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    server.stop(Duration.ofSeconds(5));
    assertFalse(Files.exists(socket), "socket file removed on stop");
  }

  @Test
  void aStaleSocketFileIsReplaced() throws Exception {
    Path socket = dir.resolve("csi.sock");
    try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      old.bind(UnixDomainSocketAddress.of(socket));
    }
    assertTrue(Files.exists(socket), "closing a unix listener leaves its file behind");
    CsiServer server = start(socket, new Readiness());
    server.stop(Duration.ofSeconds(1));
  }

  @Test
  void aLiveListenerOnThePathIsNeverStolen() throws Exception {
    Path socket = dir.resolve("csi.sock");
    try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      live.bind(UnixDomainSocketAddress.of(socket));
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> start(socket, new Readiness()));
      assertEquals("a server is already listening on " + socket
          + "; refusing to take over its socket", e.getMessage());
      assertTrue(Files.exists(socket), "the live socket is left alone");
    }
  }

  @Test
  void aSecondServerOnTheSamePathIsRefused() throws Exception {
    Path socket = dir.resolve("csi.sock");
    CsiServer first = start(socket, new Readiness());
    try {
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> start(socket, new Readiness()));
      assertTrue(e.getMessage().startsWith("another pve-storage-csi process is serving " + socket),
          e.getMessage());
      assertTrue(Files.exists(socket), "the first server keeps its socket");
    } finally {
      first.stop(Duration.ofSeconds(1));
    }
  }

  @Test
  void aFileThatIsNotASocketIsNotDeleted() throws Exception {
    Path socket = dir.resolve("csi.sock");
    Files.writeString(socket, "precious");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> start(socket, new Readiness()));
    assertTrue(e.getMessage().contains("exists and is not a socket"), e.getMessage());
    assertEquals("precious", Files.readString(socket));
  }

  @Test
  void tcpEndpointsReportTheBoundPort() throws Exception {
    CsiServer server = CsiServer.start(new Endpoint.Tcp("127.0.0.1", 0),
        PosixFilePermissions.fromString("rw-rw----"), List.of(), List.of());
    try {
      assertTrue(((Endpoint.Tcp) server.endpoint()).port() > 0);
    } finally {
      server.stop(Duration.ofSeconds(1));
    }
  }
}
