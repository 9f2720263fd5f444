package io.csi.pvestorage.app;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The CSI gRPC server on a unix domain socket (netty epoll) or on TCP (tests, VM harness).
 *
 * <p>For a unix socket it creates the parent directory, refuses to start while another live
 * server answers on the path (it holds {@code <socket>.lock} and a connect probe finds no live
 * listener before it removes a stale socket file), binds, and sets the socket's permissions. A
 * graceful {@link #stop(Duration)} stops accepting calls, lets in-flight calls finish up to the
 * deadline, cancels the rest and removes the socket file.
 *
 * <p>Calls run on virtual threads: storage calls block on locks and child processes, and a
 * platform-thread pool would either queue them or grow without bound.
 *
 * <h2>Bounds</h2>
 *
 * A request message may be at most {@link Limits#maxMessageBytes()} long; a longer one is
 * refused with RESOURCE_EXHAUSTED as soon as its length prefix arrives, before it is buffered.
 * At most {@link Limits#maxCalls()} calls run at once: per connection through HTTP/2's
 * MAX_CONCURRENT_STREAMS (the client queues), over all connections through {@link
 * ConcurrentCallLimit} (RESOURCE_EXHAUSTED). With a small flow-control window ({@value
 * #FLOW_CONTROL_WINDOW} bytes) they bound the direct memory Netty may hold for requests, which the chart's small heap (-Xmx128m, and as much direct memory) needs:
 * 60 requests of 3.5 MB each exhausted it before.
 */
final class CsiServer {

  private static final System.Logger LOG = System.getLogger(CsiServer.class.getName());
  /**
   * What a client may send, per stream and per connection, before the server has read it:
   * HTTP/2 flow control then holds it back. 128 KiB instead of grpc's 1 MiB: a refused oversized
   * request leaves at most this much to drain, and a legitimate request of the largest accepted
   * size needs a few window updates on a local socket, which cost nothing noticeable.
   */
  static final int FLOW_CONTROL_WINDOW = 128 * 1024;

  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;

  private final Server server;
  private final Endpoint endpoint;
  private final ExecutorService executor;
  private final List<EventLoopGroup> eventLoops;
  private final FileChannel lockChannel;
  private final FileLock lock;

  private CsiServer(Server server, Endpoint endpoint, ExecutorService executor,
      List<EventLoopGroup> eventLoops, FileChannel lockChannel, FileLock lock) {
    this.server = server;
    this.endpoint = endpoint;
    this.executor = executor;
    this.eventLoops = eventLoops;
    this.lockChannel = lockChannel;
    this.lock = lock;
  }

  /**
   * The bounds of the server.
   *
   * @param maxMessageBytes the largest request message accepted
   * @param maxCalls the most calls served at once
   */
  record Limits(int maxMessageBytes, int maxCalls) {

    /**
     * The largest CSI request this driver accepts: 512 KiB. CSI requests are small: names and IDs
     * are at most 128 bytes, capabilities a few dozen; the largest parts are the parameter maps,
     * and Kubernetes caps a StorageClass's parameters at 256 KiB in total (a
     * VolumeAttributesClass's likewise), which this leaves room for twice. This driver takes no
     * secrets. gRPC's own default, 4 MiB, let 60 requests exhaust a 128 MiB heap's direct memory.
     */
    static final int DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024;

    /**
     * The most calls served at once when not configured: more than the sidecars ever send (the
     * provisioner's 4 workers, the snapshotter's, the kubelet's node calls), small enough that
     * all of them with a full-size message fit the direct memory twice over.
     */
    static final int DEFAULT_MAX_CALLS = 32;

    static final Limits DEFAULT = new Limits(DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_CALLS);

    Limits {
      if (maxMessageBytes < 1024 || maxCalls < 1) {
        throw new IllegalArgumentException("server limits too small: " + maxMessageBytes
            + " bytes, " + maxCalls + " calls");
      }
    }
  }

  /** Starts serving with the {@link Limits#DEFAULT default limits}. */
  static CsiServer start(Endpoint endpoint, Set<PosixFilePermission> socketMode,
      List<BindableService> services, List<ServerInterceptor> interceptors) throws IOException {
    return start(endpoint, socketMode, services, interceptors, Limits.DEFAULT);
  }

  /**
   * Starts serving.
   *
   * @param interceptors wrap every call; as in {@link ServerInterceptors}, the last is the
   *     outermost
   * @throws IllegalStateException when another server is live on the socket, with a message
   *     that says so
   * @throws IOException when the socket cannot be created
   */
  static CsiServer start(Endpoint endpoint, Set<PosixFilePermission> socketMode,
      List<BindableService> services, List<ServerInterceptor> interceptors, Limits limits)
      throws IOException {
    // grpc calls the last interceptor of the list first: the call limit goes innermost, so the
    // given interceptors log and count the calls it refuses.
    List<ServerInterceptor> chain = new java.util.ArrayList<>();
    chain.add(new ConcurrentCallLimit(limits.maxCalls()));
    chain.addAll(interceptors);
    ExecutorService executor = Executors.newThreadPerTaskExecutor(
        Thread.ofVirtual().name("csi-call-", 0).factory());
    if (endpoint instanceof Endpoint.Unix unix) {
      return startUnix(unix.path(), socketMode, services, chain, limits, executor);
    }
    Endpoint.Tcp tcp = (Endpoint.Tcp) endpoint;
    NettyServerBuilder builder = NettyServerBuilder.forAddress(
        new InetSocketAddress(tcp.host(), tcp.port()));
    Server server = build(builder, services, chain, limits, executor).start();
    Endpoint bound = new Endpoint.Tcp(tcp.host(), server.getPort());
    return new CsiServer(server, bound, executor, List.of(), null, null);
  }

  private static CsiServer startUnix(Path socket, Set<PosixFilePermission> socketMode,
      List<BindableService> services, List<ServerInterceptor> interceptors, Limits limits,
      ExecutorService executor) throws IOException {
    if (!Epoll.isAvailable()) {
      throw new IOException("unix sockets need netty's epoll transport, which is unavailable: "
          + Epoll.unavailabilityCause());
    }
    Files.createDirectories(socket.getParent());
    Path lockPath = socket.resolveSibling(socket.getFileName() + ".lock");
    FileChannel lockChannel = FileChannel.open(lockPath,
        StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = lockChannel.tryLock();
    } catch (OverlappingFileLockException sameProcess) {
      lock = null;
    }
    if (lock == null) {
      lockChannel.close();
      throw new IllegalStateException("another pve-storage-csi process is serving " + socket
          + " (it holds " + lockPath + "); refusing to take over its socket");
    }
    try {
      removeStaleSocket(socket);
      EventLoopGroup boss = new EpollEventLoopGroup(1);
      EventLoopGroup workers = new EpollEventLoopGroup(2);
      NettyServerBuilder builder = NettyServerBuilder
          .forAddress(new DomainSocketAddress(socket.toString()))
          .channelType(EpollServerDomainSocketChannel.class)
          .bossEventLoopGroup(boss)
          .workerEventLoopGroup(workers);
      Server server = build(builder, services, interceptors, limits, executor).start();
      Files.setPosixFilePermissions(socket, socketMode);
      return new CsiServer(server, new Endpoint.Unix(socket), executor,
          List.of(boss, workers), lockChannel, lock);
    } catch (IOException | RuntimeException e) {
      lock.release();
      lockChannel.close();
      throw e;
    }
  }

  private static void removeStaleSocket(Path socket) throws IOException {
    if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    int mode = (Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new IllegalStateException(socket + " exists and is not a socket; remove it or "
          + "choose another --endpoint");
    }
    try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      probe.connect(UnixDomainSocketAddress.of(socket));
      throw new IllegalStateException("a server is already listening on " + socket
          + "; refusing to take over its socket");
    } catch (ConnectException stale) {
      LOG.log(Level.INFO, "removing stale socket " + socket);
      Files.delete(socket);
    }
  }

  private static Server build(NettyServerBuilder builder, List<BindableService> services,
      List<ServerInterceptor> interceptors, Limits limits, ExecutorService executor) {
    builder.executor(executor)
        .maxInboundMessageSize(limits.maxMessageBytes())
        .maxConcurrentCallsPerConnection(limits.maxCalls())
        .flowControlWindow(FLOW_CONTROL_WINDOW);
    for (BindableService service : services) {
      builder.addService(ServerInterceptors.intercept(service, interceptors));
    }
    return builder.build();
  }

  /** The endpoint actually bound (with the real port for {@code tcp://host:0}). */
  Endpoint endpoint() {
    return endpoint;
  }

  /**
   * Stops accepting calls, waits up to {@code grace} for in-flight calls, cancels what is left,
   * and removes the socket file.
   */
  void stop(Duration grace) {
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        LOG.log(Level.WARNING, "calls still running after " + grace.toMillis()
            + " ms; cancelling them");
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
    executor.shutdownNow();
    for (EventLoopGroup group : eventLoops) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
    if (endpoint instanceof Endpoint.Unix unix) {
      try {
        Files.deleteIfExists(unix.path());
        // The lock file stays: deleting it could let a process that opened it before the
        // release and a process that creates it anew both believe they hold it.
        lock.release();
        lockChannel.close();
      } catch (IOException e) {
        LOG.log(Level.WARNING, "cannot clean up " + unix.path() + ": " + e.getMessage());
      }
    }
  }
}
