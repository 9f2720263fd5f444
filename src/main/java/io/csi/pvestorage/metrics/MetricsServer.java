package io.csi.pvestorage.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * Serves {@code /metrics} (Prometheus text format) and {@code /healthz} (200 while the driver is
 * healthy, 503 otherwise) with the JDK's HTTP server. Scrapes read meters only; they never run a
 * storage command.
 */
public final class MetricsServer implements AutoCloseable {

  private final HttpServer server;

  private MetricsServer(HttpServer server) {
    this.server = server;
  }

  /** Binds and starts; port 0 picks a free port. */
  public static MetricsServer start(InetSocketAddress address, PrometheusMeterRegistry registry,
      BooleanSupplier healthy) throws IOException {
    InetSocketAddress bind = address.isUnresolved()
        ? new InetSocketAddress(address.getHostString(), address.getPort()) : address;
    HttpServer server = HttpServer.create(bind, 16);
    server.setExecutor(Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon().name("metrics-http").factory()));
    server.createContext("/metrics", exchange -> {
      if (!exchange.getRequestMethod().equals("GET")) {
        reply(exchange, 405, "text/plain", "GET only\n");
        return;
      }
      reply(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", registry.scrape());
    });
    server.createContext("/healthz", exchange -> {
      boolean ok = healthy.getAsBoolean();
      reply(exchange, ok ? 200 : 503, "text/plain", ok ? "ok\n" : "not ready\n");
    });
    server.start();
    return new MetricsServer(server);
  }

  /** The bound port. */
  public int port() {
    return server.getAddress().getPort();
  }

  private static void reply(HttpExchange exchange, int status, String type, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", type);
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
