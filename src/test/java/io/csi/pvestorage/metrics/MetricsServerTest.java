package io.csi.pvestorage.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class MetricsServerTest {

  @Test
  void scrapeShowsRpcAndCommandMetersWithBoundedLabels() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    DriverMetrics metrics = new DriverMetrics(registry).withJvmMeters();
    metrics.rpcFinished("CreateVolume", "OK", Duration.ofMillis(120));
    metrics.rpcFinished("CreateVolume", "RESOURCE_EXHAUSTED", Duration.ofMillis(3));
    metrics.commandFinished("lvcreate", Duration.ofMillis(90), "ok");
    metrics.commandFinished("zfs destroy", Duration.ofMillis(20), "failed");
    AtomicBoolean healthy = new AtomicBoolean(false);
    try (MetricsServer server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0), registry,
        healthy::get)) {
      HttpClient http = HttpClient.newHttpClient();
      String base = "http://127.0.0.1:" + server.port();
      HttpResponse<String> scrape = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics"))
          .build(), HttpResponse.BodyHandlers.ofString());
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
      assertTrue(text.contains("jvm_memory_used_bytes"), "JVM meters");
      assertTrue(text.contains("process_uptime_seconds"), "process meters");

      assertEquals(503, http.send(HttpRequest.newBuilder(URI.create(base + "/healthz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
      healthy.set(true);
      assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/healthz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
    }
  }
}
