package io.csi.pvestorage.lock;

import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Reads what the mock API server recorded. */
final class MockRequests {

  private MockRequests() {}

  /** Takes every request recorded so far, as "METHOD path". */
  static List<String> drain(KubernetesMockServer server) throws InterruptedException {
    List<String> requests = new ArrayList<>();
    RecordedRequest request;
    while ((request = server.takeRequest(1, TimeUnit.MILLISECONDS)) != null) {
      requests.add(request.getMethod() + " " + request.getPath());
    }
    return requests;
  }

  /** The methods of {@link #drain}, e.g. [POST, PUT]. */
  static List<String> methods(KubernetesMockServer server) throws InterruptedException {
    return drain(server).stream().map(r -> r.substring(0, r.indexOf(' '))).toList();
  }

  /** Counts writes (anything but GET) among drained requests. */
  static long writes(KubernetesMockServer server) throws InterruptedException {
    return methods(server).stream().filter(m -> !m.equals("GET")).count();
  }

  /**
   * Silences the mock server's per-request INFO lines. Returns the logger, which the caller
   * must keep referenced (java.util.logging holds loggers weakly).
   */
  static Logger quiet() {
    Logger logger = Logger.getLogger("io.fabric8.mockwebserver");
    logger.setLevel(Level.WARNING);
    return logger;
  }
}
