package io.csi.pvestorage.faults;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay between driver processes and the mock API server that the test can cut: the
 * driver's client talks to {@link #port()}, which forwards to the real server while up. While
 * down, the API server is gone as the driver sees it, in one of two ways ({@link Mode}), and every
 * connection open at the cut is closed, so nothing gets through an old one. Bringing it up
 * listens on the same port again: the driver must recover without being told.
 */
final class ApiOutage implements AutoCloseable {

  /** How the API server looks while it is down. */
  enum Mode {
    /** Stopped: connections are refused at once. */
    REFUSED,
    /** Unreachable: connections are accepted and never answered (every request times out). */
    SILENT
  }

  private final String scheme;
  private final int target;
  private final int port;
  private final List<Socket> open = new CopyOnWriteArrayList<>();
  private volatile ServerSocket listener;
  private volatile Mode down;

  /**
   * @param scheme of the API server's URL ({@code https} for the fabric8 mock server); the
   *     relay passes the bytes through, TLS included
   * @param target the API server's port on the loopback
   */
  ApiOutage(String scheme, int target) throws IOException {
    this.scheme = scheme;
    this.target = target;
    ServerSocket first = new ServerSocket();
    first.setReuseAddress(true);
    first.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    this.port = first.getLocalPort();
    listen(first);
  }

  int port() {
    return port;
  }

  String url() {
    return scheme + "://127.0.0.1:" + port;
  }

  /** Takes the API server away; open connections are closed. */
  synchronized void cut(Mode mode) throws IOException {
    down = mode;
    if (mode == Mode.REFUSED) {
      listener.close();
    }
    closeOpen();
  }

  /** Brings the API server back on the same port. */
  synchronized void restore() throws IOException {
    Mode was = down;
    down = null;
    closeOpen();
    if (was == Mode.REFUSED) {
      ServerSocket again = new ServerSocket();
      again.setReuseAddress(true);
      again.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      listen(again);
    }
  }

  private void closeOpen() {
    for (Socket s : open) {
      quietly(s);
    }
    open.clear();
  }

  private void listen(ServerSocket socket) {
    listener = socket;
    Thread.ofPlatform().daemon().name("api-outage-accept").start(() -> {
      while (!socket.isClosed()) {
        Socket client;
        try {
          client = socket.accept();
        } catch (IOException e) {
          return;
        }
        open.add(client);
        if (down == Mode.SILENT) {
          continue; // accepted, never answered; closed when the outage ends
        }
        try {
          Socket server = new Socket(InetAddress.getLoopbackAddress(), target);
          open.add(server);
          pump(client, server);
          pump(server, client);
        } catch (IOException e) {
          quietly(client);
        }
      }
    });
  }

  private static void pump(Socket from, Socket to) {
    Thread.ofPlatform().daemon().name("api-outage-pump").start(() -> {
      byte[] buffer = new byte[16 << 10];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        while ((n = in.read(buffer)) >= 0) {
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // the other side or the outage closed it
      } finally {
        quietly(from);
        quietly(to);
      }
    });
  }

  private static void quietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    closeOpen();
  }
}
