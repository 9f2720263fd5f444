package io.csi.pvestorage.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class MetricsServerTest {

  /** Health whose answers the test sets. */
  private static final class Settable implements MetricsServer.Health {
    final AtomicReference<String> unhealthy = new AtomicReference<>();
    final AtomicReference<String> unready = new AtomicReference<>();

    @Override
    public Optional<String> unhealthy() {
      return Optional.ofNullable(unhealthy.get());
    }

    @Override
    public Optional<String> unready() {
      return unhealthy().or(() -> Optional.ofNullable(unready.get()));
    }
  }

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final HttpClient http = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5)).build();

  private HttpResponse<String> get(MetricsServer server, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static MetricsServer local(PrometheusMeterRegistry registry, MetricsServer.Health health,
      int clients, Duration timeout) throws Exception {
    return MetricsServer.start(new InetSocketAddress("127.0.0.1", 0), registry, health, clients,
        timeout);
  }

  @Test
  void scrapeShowsRpcAndCommandMetersWithBoundedLabels() throws Exception {
    DriverMetrics metrics = new DriverMetrics(registry).withJvmMeters();
    metrics.rpcFinished("CreateVolume", "OK", Duration.ofMillis(120));
    metrics.rpcFinished("CreateVolume", "RESOURCE_EXHAUSTED", Duration.ofMillis(3));
    metrics.commandFinished("lvcreate", Duration.ofMillis(90), "ok");
    metrics.commandFinished("zfs destroy", Duration.ofMillis(20), "failed");
    Map<String, Duration> oldest = new ConcurrentHashMap<>(Map.of("local-lvm",
        Duration.ofSeconds(312), "local-zfs", Duration.ZERO, "", Duration.ofMillis(1500)));
    metrics.withCommandGauges(List.of("local-lvm", "local-zfs"), oldest::get,
        "local-lvm"::equals);
    Settable health = new Settable();
    health.unhealthy.set("starting the storage lock");
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0),
        registry, health)) {
      HttpResponse<String> scrape = get(server, "/metrics");
      assertEquals(200, scrape.statusCode());
      String text = scrape.body();
      assertTrue(text.contains("# TYPE pve_csi_rpc_duration_seconds histogram"), text);
      assertTrue(text.contains(
          "pve_csi_rpc_duration_seconds_count{code=\"OK\",method=\"CreateVolume\"} 1"), text);
      assertTrue(text.contains("pve_csi_rpc_duration_seconds_count{code=\"RESOURCE_EXHAUSTED\","
          + "method=\"CreateVolume\"} 1"), text);
      assertTrue(text.contains("pve_csi_storage_command_duration_seconds_count{outcome=\"ok\","
          + "verb=\"lvcreate\"} 1"), text);
      assertTrue(text.contains("pve_csi_storage_command_failures_total{verb=\"zfs destroy\"} 1"),
          text);
      assertTrue(text.contains("pve_csi_storage_command_oldest_seconds{storage=\"local-lvm\"} 312.0"),
          text);
      assertTrue(text.contains("pve_csi_storage_command_oldest_seconds{storage=\"local-zfs\"} 0.0"),
          text);
      assertTrue(text.contains("pve_csi_node_command_oldest_seconds 1.5"), text);
      assertTrue(text.contains("pve_csi_storage_command_stalled{storage=\"local-lvm\"} 1.0"), text);
      assertTrue(text.contains("pve_csi_storage_command_stalled{storage=\"local-zfs\"} 0.0"), text);
      assertTrue(text.contains("jvm_memory_used_bytes"), "JVM meters");
      assertTrue(text.contains("process_uptime_seconds"), "process meters");

      oldest.put("local-lvm", Duration.ZERO);
      assertTrue(get(server, "/metrics").body().contains(
          "pve_csi_storage_command_oldest_seconds{storage=\"local-lvm\"} 0.0"), "read on scrape");
    }
  }

  @Test
  void healthzIsLivenessAndReadyzAlsoReportsStalls() throws Exception {
    Settable health = new Settable();
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0),
        registry, health)) {
      health.unhealthy.set("starting the storage lock");
      HttpResponse<String> starting = get(server, "/healthz");
      assertEquals(503, starting.statusCode());
      assertEquals("starting the storage lock\n", starting.body());
      assertEquals(503, get(server, "/readyz").statusCode());

      health.unhealthy.set(null);
      health.unready.set("lvcreate (pid 4242) has been running for 312 s on storage local-lvm");
      assertEquals(200, get(server, "/healthz").statusCode(), "a stall must not restart us");
      HttpResponse<String> stalled = get(server, "/readyz");
      assertEquals(503, stalled.statusCode());
      assertEquals("lvcreate (pid 4242) has been running for 312 s on storage local-lvm\n",
          stalled.body());

      health.unready.set(null);
      assertEquals("ok\n", get(server, "/readyz").body());
      assertEquals(404, get(server, "/other").statusCode());
      assertEquals(405, http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + server.port() + "/metrics")).POST(HttpRequest.BodyPublishers.ofString("x")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
    }
  }

  @Test
  void bindsOnlyTheAddressItIsGiven() throws Exception {
    try (MetricsServer server = MetricsServer.start(
        InetSocketAddress.createUnresolved("127.0.0.1", 0), registry, new Settable())) {
      assertEquals(InetAddress.getByName("127.0.0.1"), server.address().getAddress());
      assertEquals(200, get(server, "/healthz").statusCode());
    }
  }

  @Test
  void aClientSendingHalfARequestBlocksNobodyAndIsCutOffAtItsTimeout() throws Exception {
    try (MetricsServer server = local(registry, new Settable(), 16, Duration.ofSeconds(4));
        Socket slow = new Socket("127.0.0.1", server.port())) {
      OutputStream out = slow.getOutputStream();
      out.write("GET /metrics HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush(); // ... and never the blank line

      long start = System.nanoTime();
      List<CompletableFuture<Integer>> others = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String path = i % 2 == 0 ? "/healthz" : "/metrics";
        others.add(CompletableFuture.supplyAsync(() -> {
          try {
            return get(server, path).statusCode();
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }));
      }
      for (CompletableFuture<Integer> other : others) {
        assertEquals(200, other.get(5, TimeUnit.SECONDS));
      }
      assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(3000),
          "served while the slow client still holds its connection (for 4 s)");

      slow.setSoTimeout(10_000);
      InputStream in = slow.getInputStream();
      long waited = System.nanoTime();
      assertEquals(-1, in.read(), "closed without an answer");
      long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - waited);
      assertTrue(tookMs < 6_000, "cut off after 4 s from its start, took " + tookMs + " ms");
    }
  }

  @Test
  void clientsBeyondTheBoundAreTurnedAwayAtOnce() throws Exception {
    try (MetricsServer server = local(registry, new Settable(), 2, Duration.ofSeconds(3));
        Socket first = new Socket("127.0.0.1", server.port());
        Socket second = new Socket("127.0.0.1", server.port())) {
      Thread.sleep(200); // both accepted and waiting for their requests
      HttpResponse<String> third = get(server, "/healthz");
      assertEquals(503, third.statusCode());
      assertEquals("too many clients; retry\n", third.body());
      first.close();
      second.close();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      int status;
      do {
        Thread.sleep(50);
        status = get(server, "/healthz").statusCode();
      } while (status != 200 && System.nanoTime() < until);
      assertEquals(200, status, "served again once the slow clients are gone");
    }
  }

  @Test
  void anOversizedRequestHeadIsRefused() throws Exception {
    try (MetricsServer server = local(registry, new Settable(), 4, Duration.ofSeconds(3));
        Socket client = new Socket("127.0.0.1", server.port())) {
      client.setSoTimeout(5_000);
      OutputStream out = client.getOutputStream();
      String start = "GET /metrics HTTP/1.1\r\nX-Junk: ";
      // Exactly the bound and no end: all of it is read, so the close is clean.
      out.write((start + "a".repeat(MetricsServer.MAX_REQUEST_BYTES - start.length()))
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      assertTrue(answer.startsWith("HTTP/1.1 431 "), answer);
    }
  }

  @Test
  void renderingTheMetricsDoesNotCountAgainstTheClientsTime() throws Exception {
    io.micrometer.core.instrument.Gauge.builder("slow_to_read", () -> {
      try {
        Thread.sleep(1_500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return 1.0;
    }).register(registry);
    try (MetricsServer server = local(registry, new Settable(), 4, Duration.ofMillis(500))) {
      HttpResponse<String> scrape = get(server, "/metrics");
      assertEquals(200, scrape.statusCode());
      assertTrue(scrape.body().contains("slow_to_read 1.0"), scrape.body());
    }
  }
}
