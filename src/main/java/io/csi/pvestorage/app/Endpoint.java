package io.csi.pvestorage.app;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Locale;

/** Where the CSI gRPC server listens: a unix domain socket, or TCP (tests and the VM harness). */
public sealed interface Endpoint {

  /** {@code unix:///absolute/path/csi.sock}. */
  record Unix(Path path) implements Endpoint {
    @Override
    public String toString() {
      return "unix://" + path;
    }
  }

  /** {@code tcp://host:port}; port 0 picks a free port. */
  record Tcp(String host, int port) implements Endpoint {
    public InetSocketAddress address() {
      return new InetSocketAddress(host, port);
    }

    @Override
    public String toString() {
      return "tcp://" + host + ":" + port;
    }
  }

  /**
   * Parses {@code unix:///path}, {@code unix:/path} or {@code tcp://host:port}.
   *
   * @throws IllegalArgumentException with a message that says what is accepted
   */
  static Endpoint parse(String text) {
    String lower = text.toLowerCase(Locale.ROOT);
    if (lower.startsWith("unix:")) {
      String path = text.substring("unix:".length());
      if (path.startsWith("//")) {
        path = path.substring(2);
      }
      if (!path.startsWith("/") || path.length() < 2 || path.endsWith("/")) {
        throw new IllegalArgumentException("'" + text + "' needs an absolute socket path, "
            + "e.g. unix:///csi/csi.sock");
      }
      return new Unix(Path.of(path).normalize());
    }
    if (lower.startsWith("tcp://")) {
      String rest = text.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("'" + text + "' needs host and port, "
            + "e.g. tcp://127.0.0.1:10000");
      }
      String host = rest.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      int port;
      try {
        port = Integer.parseInt(rest.substring(colon + 1));
      } catch (NumberFormatException e) {
        port = -1;
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("'" + text + "' has no valid port (0-65535)");
      }
      return new Tcp(host, port);
    }
    throw new IllegalArgumentException("'" + text + "' is not unix:///path or tcp://host:port");
  }
}
