package io.csi.pvestorage.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * The smallest API server the node plugin's Lease lock starts against, over TLS on loopback as
 * in a cluster: it allows every access review and answers everything else 404 (an idle node
 * plugin holds no Lease). It counts the requests, so the benchmark can print how many calls
 * readiness and idling cost. The certificate is made with the JDK's keytool (self-signed, for
 * 127.0.0.1) and handed to the driver through a kubeconfig naming only that CA, as the
 * in-cluster configuration names the service account's {@code ca.crt}.
 */
final class LoopbackApiServer implements AutoCloseable {

  private static final String PASSWORD = "bench-only";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpsServer server;
  private final Path kubeconfig;
  private final Map<String, AtomicLong> requests = new ConcurrentHashMap<>();

  private LoopbackApiServer(HttpsServer server, Path kubeconfig) {
    this.server = server;
    this.kubeconfig = kubeconfig;
  }

  /** Makes the certificate and the kubeconfig in {@code work} and starts serving. */
  static LoopbackApiServer start(Path work) throws Exception {
    Path keystore = work.resolve("apiserver.p12");
    Path ca = work.resolve("apiserver-ca.pem");
    Files.deleteIfExists(keystore);
    keytool("-genkeypair", "-alias", "api", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=bench-apiserver", "-ext", "san=ip:127.0.0.1", "-validity", "2",
        "-keystore", keystore.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD);
    keytool("-exportcert", "-rfc", "-alias", "api", "-keystore", keystore.toString(),
        "-storepass", PASSWORD, "-file", ca.toString());

    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keystore)) {
      keys.load(in, PASSWORD.toCharArray());
    }
    KeyManagerFactory keyManagers =
        KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    keyManagers.init(keys, PASSWORD.toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(keyManagers.getKeyManagers(), null, null);

    HttpsServer https = HttpsServer.create(
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    https.setHttpsConfigurator(new HttpsConfigurator(tls));
    https.setExecutor(Executors.newFixedThreadPool(4));
    Path kubeconfig = work.resolve("kubeconfig");
    LoopbackApiServer api = new LoopbackApiServer(https, kubeconfig);
    https.createContext("/", api::handle);
    https.start();
    Files.writeString(kubeconfig, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: bench
          cluster:
            server: https://127.0.0.1:%d
            certificate-authority: %s
        users:
        - name: bench
          user:
            token: bench-token
        contexts:
        - name: bench
          context: {cluster: bench, user: bench, namespace: bench}
        current-context: bench
        """.formatted(https.getAddress().getPort(), ca));
    return api;
  }

  /** The kubeconfig naming this server and its CA. */
  Path kubeconfig() {
    return kubeconfig;
  }

  /** The requests counted since the last call, as "METHOD resource" to count, and resets. */
  Map<String, Long> takeRequests() {
    Map<String, Long> taken = new TreeMap<>();
    requests.forEach((key, count) -> {
      long n = count.getAndSet(0);
      if (n > 0) {
        taken.put(key, n);
      }
    });
    return taken;
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String path = exchange.getRequestURI().getPath();
      String resource = path.substring(path.lastIndexOf('/') + 1);
      requests.computeIfAbsent(exchange.getRequestMethod() + " " + resource,
          k -> new AtomicLong()).incrementAndGet();
      byte[] body = exchange.getRequestBody().readAllBytes();
      if ("POST".equals(exchange.getRequestMethod()) && path.startsWith(
          "/apis/authorization.k8s.io/v1/") && resource.startsWith("selfsubject")) {
        ObjectNode review = (ObjectNode) JSON.readTree(body);
        if (resource.equals("selfsubjectrulesreviews")) {
          ObjectNode status = review.putObject("status");
          status.put("incomplete", false);
          ObjectNode rule = status.putArray("resourceRules").addObject();
          rule.putArray("verbs").add("get").add("create").add("update");
          rule.putArray("apiGroups").add("coordination.k8s.io");
          rule.putArray("resources").add("leases");
          status.putArray("nonResourceRules");
        } else {
          review.putObject("status").put("allowed", true);
        }
        respond(exchange, 201, JSON.writeValueAsBytes(review));
      } else {
        respond(exchange, 404, JSON.writeValueAsBytes(Map.of("kind", "Status",
            "apiVersion", "v1", "status", "Failure", "reason", "NotFound", "code", 404)));
      }
    }
  }

  private static void respond(HttpExchange exchange, int code, byte[] body) throws IOException {
    exchange.getResponseHeaders().put("Content-Type", List.of("application/json"));
    exchange.sendResponseHeaders(code, body.length);
    exchange.getResponseBody().write(body);
  }

  private static void keytool(String... args) throws Exception {
    List<String> argv = new java.util.ArrayList<>();
    argv.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    argv.addAll(List.of(args));
    Process keytool = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String output = new String(keytool.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!keytool.waitFor(60, TimeUnit.SECONDS) || keytool.exitValue() != 0) {
      throw new IOException("keytool " + args[0] + " failed: " + output);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
  }
}
