package io.csi.pvestorage.metrics;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Serves {@code /metrics} (Prometheus text format), {@code /healthz} (200 while the driver is
 * alive and serving) and {@code /readyz} (200 while it also takes new storage work; 503 with the
 * reason while a storage command is stalled). Scrapes read meters only; they never run a storage
 * command.
 *
 * <p>A deliberately small HTTP/1.1 server (one request per connection, then close) rather than
 * the JDK's, because of what it must survive: each client gets its own virtual thread, so one
 * that sends half a request blocks nobody else; every connection is closed after {@code
 * clientTimeout} of its own time whatever it is doing (sending a request, or not reading its
 * response; rendering the metrics is not counted); at most
 * {@code maxClients} are served at once, and one more is answered 503 at once; a request head
 * larger than {@value #MAX_REQUEST_BYTES} bytes is refused.
 */
public final class MetricsServer implements AutoCloseable {

  /** Requests are a request line and a few headers; anything larger is not a scraper's. */
  static final int MAX_REQUEST_BYTES = 8192;

  /** Clients served at once when not configured: scrapers and probes are few. */
  public static final int DEFAULT_MAX_CLIENTS = 16;

  /** How long a connection may last when not configured; a scrape takes milliseconds. */
  public static final Duration DEFAULT_CLIENT_TIMEOUT = Duration.ofSeconds(5);

  private static final System.Logger LOG = System.getLogger(MetricsServer.class.getName());
  private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

  /** What {@code /healthz} and {@code /readyz} report. */
  public interface Health {
    /** Why the driver is not serving (starting, stopping, its lock cannot start); else empty. */
    Optional<String> unhealthy();

    /** Why the driver should get no new storage work now (unhealthy, or a stalled command). */
    Optional<String> unready();
  }

  private final ServerSocket socket;
  private final PrometheusMeterRegistry registry;
  private final Health health;
  private final Semaphore clients;
  private final Duration clientTimeout;
  private final ScheduledExecutorService reaper;
  private volatile boolean closed;

  private MetricsServer(ServerSocket socket, PrometheusMeterRegistry registry, Health health,
      int maxClients, Duration clientTimeout) {
    this.socket = socket;
    this.registry = registry;
    this.health = health;
    this.clients = new Semaphore(maxClients);
    this.clientTimeout = clientTimeout;
    this.reaper = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("metrics-reaper").factory());
  }

  /** Binds and starts with the default client bound and timeout; port 0 picks a free port. */
  public static MetricsServer start(InetSocketAddress address, PrometheusMeterRegistry registry,
      Health health) throws IOException {
    return start(address, registry, health, DEFAULT_MAX_CLIENTS, DEFAULT_CLIENT_TIMEOUT);
  }

  /**
   * Binds and starts; port 0 picks a free port.
   *
   * @param address where to listen; an unresolved host name is resolved here
   * @param maxClients connections served at once; more are answered 503 and closed
   * @param clientTimeout the longest any connection stays open
   */
  public static MetricsServer start(InetSocketAddress address, PrometheusMeterRegistry registry,
      Health health, int maxClients, Duration clientTimeout) throws IOException {
    Objects.requireNonNull(registry, "registry");
    Objects.requireNonNull(health, "health");
    InetSocketAddress bind = address.isUnresolved()
        ? new InetSocketAddress(address.getHostString(), address.getPort()) : address;
    if (bind.isUnresolved()) {
      throw new IOException("cannot resolve " + address.getHostString());
    }
    ServerSocket socket = new ServerSocket();
    try {
      socket.setReuseAddress(true);
      socket.bind(bind, 64);
    } catch (IOException e) {
      socket.close();
      throw e;
    }
    MetricsServer server = new MetricsServer(socket, registry, health, maxClients, clientTimeout);
    Thread.ofPlatform().daemon().name("metrics-accept").start(server::acceptLoop);
    return server;
  }

  /** The bound port. */
  public int port() {
    return socket.getLocalPort();
  }

  /** The bound address. */
  public InetSocketAddress address() {
    return (InetSocketAddress) socket.getLocalSocketAddress();
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = socket.accept();
      } catch (IOException e) {
        if (!closed) {
          LOG.log(System.Logger.Level.WARNING, "metrics server: accept failed: " + e);
        }
        continue;
      }
      if (!clients.tryAcquire()) {
        // Answered on this thread: a fresh socket's send buffer takes a short reply at once.
        respondQuietly(client, 503, "text/plain", "too many clients; retry\n", false);
        closeQuietly(client);
        continue;
      }
      Thread.ofVirtual().name("metrics-client").start(() -> serve(client));
    }
  }

  /** Closes the client once its time is up; null (and the client closed) when stopping. */
  private ScheduledFuture<?> limit(Socket client) {
    try {
      return reaper.schedule(() -> closeQuietly(client), clientTimeout.toNanos(),
          TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException stopped) {
      closeQuietly(client);
      return null;
    }
  }

  private void serve(Socket client) {
    ScheduledFuture<?> limit = limit(client);
    if (limit == null) {
      clients.release();
      return;
    }
    try {
      client.setSoTimeout((int) Math.max(1, clientTimeout.toMillis()));
      String head = readHead(client.getInputStream());
      if (head == null) {
        respondQuietly(client, 431, "text/plain", "request too large\n", false);
        return;
      }
      String[] requestLine = head.lines().findFirst().orElse("").split(" ");
      if (requestLine.length != 3 || !requestLine[2].startsWith("HTTP/")) {
        respondQuietly(client, 400, "text/plain", "bad request\n", false);
        return;
      }
      String method = requestLine[0];
      boolean headOnly = method.equals("HEAD");
      if (!method.equals("GET") && !headOnly) {
        respondQuietly(client, 405, "text/plain", "GET only\n", false);
        return;
      }
      String path = requestLine[1].replaceFirst("\\?.*$", "");
      switch (path) {
        case "/metrics" -> {
          // The time limit is the client's: to send its request and to read the answer. How
          // long this process takes to render the registry is not, and on a starved CPU (an
          // emulated guest, a node under load) the first scrape took longer than the limit.
          limit.cancel(false);
          String text = registry.scrape();
          limit = limit(client);
          if (limit == null) {
            return;
          }
          respond(client, 200, PROMETHEUS_TEXT, text, headOnly);
        }
        case "/healthz" -> report(client, health.unhealthy(), headOnly);
        case "/readyz" -> report(client, health.unready(), headOnly);
        default -> respond(client, 404, "text/plain", "not found\n", headOnly);
      }
    } catch (IOException e) {
      // A client that timed out, hung up or sent garbage: nothing to answer.
    } finally {
      limit.cancel(false);
      closeQuietly(client);
      clients.release();
    }
  }

  private static void report(Socket client, Optional<String> problem, boolean headOnly)
      throws IOException {
    if (problem.isEmpty()) {
      respond(client, 200, "text/plain", "ok\n", headOnly);
    } else {
      respond(client, 503, "text/plain; charset=utf-8", problem.get() + "\n", headOnly);
    }
  }

  /**
   * Reads up to the blank line that ends the request head.
   *
   * @return the head, or null when it exceeds {@link #MAX_REQUEST_BYTES}
   * @throws IOException when the client hangs up or is too slow
   */
  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (head.size() < MAX_REQUEST_BYTES) {
      int b = in.read();
      if (b < 0) {
        throw new SocketException("client closed the connection before the end of its request");
      }
      head.write(b);
      if (b == '\n') {
        matched++;
        if (matched == 2) {
          return head.toString(StandardCharsets.ISO_8859_1);
        }
      } else if (b != '\r') {
        matched = 0;
      }
    }
    return null;
  }

  private static void respond(Socket client, int status, String type, String body,
      boolean headOnly) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    String header = "HTTP/1.1 " + status + " " + reason(status) + "\r\n"
        + "Content-Type: " + type + "\r\n"
        + "Content-Length: " + bytes.length + "\r\n"
        + "Connection: close\r\n\r\n";
    OutputStream out = client.getOutputStream();
    out.write(header.getBytes(StandardCharsets.ISO_8859_1));
    if (!headOnly) {
      out.write(bytes);
    }
    out.flush();
  }

  private static void respondQuietly(Socket client, int status, String type, String body,
      boolean headOnly) {
    try {
      respond(client, status, type, body, headOnly);
    } catch (IOException e) {
      // The client went away; nothing to do.
    }
  }

  private static String reason(int status) {
    return switch (status) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 405 -> "Method Not Allowed";
      case 431 -> "Request Header Fields Too Large";
      default -> "Service Unavailable";
    };
  }

  private static void closeQuietly(Socket client) {
    try {
      client.close();
    } catch (IOException e) {
      // Already closed.
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      socket.close();
    } catch (IOException e) {
      // Closing anyway.
    }
    reaper.shutdownNow();
  }
}
