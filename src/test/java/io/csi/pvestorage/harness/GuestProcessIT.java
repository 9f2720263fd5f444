package io.csi.pvestorage.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * In-guest mode: a JVM from the host's JDK (shared over 9p) runs inside the guest and serves on
 * a TCP port that the host reaches through a forwarded loopback port. The driver's own {@code
 * serve} command will run the same way; until it exists, the JDK's {@code jwebserver} serving
 * the shared project directory stands in for it.
 */
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ_WRITE)
class GuestProcessIT {

  @Test
  void sharedJdkRunsInTheGuest(GuestCommandRunner guest) {
    CommandResult version = guest.run(Command.of(Duration.ofSeconds(60),
        VmHarness.GUEST_JDK + "/bin/java", "-version"));
    assertEquals(0, version.exitCode(), version.stderrText());
    assertTrue(version.stderrText().contains("version \"" + Runtime.version().feature()),
        version.stderrText());
  }

  @Test
  void hostReachesAJvmServingInTheGuest(VmHarness vm) throws Exception {
    int guestPort = 10000;
    try (GuestProcess server = vm.startGuestProcess(List.of(
        VmHarness.GUEST_JDK + "/bin/jwebserver", "-b", "0.0.0.0", "-p", Integer.toString(guestPort),
        "-d", VmHarness.GUEST_PROJECT), Map.of(), guestPort)) {
      server.awaitListening(Duration.ofSeconds(60));
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
      HttpResponse<String> response;
      try {
        response = http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.hostPort() + "/pom.xml"))
                .timeout(Duration.ofSeconds(30)).build(),
            HttpResponse.BodyHandlers.ofString());
      } catch (java.io.IOException e) {
        throw new AssertionError("cannot reach the guest server through host port "
            + server.hostPort() + ": " + e + "\n" + diagnostics(vm) + "\nserver log:\n" + server.log(), e);
      }
      assertEquals(200, response.statusCode());
      Path pom = VmHarness.Config.defaults().projectDir().resolve("pom.xml");
      assertEquals(Files.readString(pom), response.body(), "the guest served the shared project file");
      assertTrue(server.log().contains("Serving"), server.log());

      int exit = server.stop();
      assertEquals(128 + 15, exit, "stopped by SIGTERM");
      assertFalse(server.isAlive());
    }
  }

  private static String diagnostics(VmHarness vm) {
    StringBuilder text = new StringBuilder();
    for (List<String> argv : List.of(List.of("ip", "-br", "addr"), List.of("ip", "route"),
        List.of("ss", "-l", "-t", "-n", "-p"))) {
      CommandResult r = vm.runner().run(Command.of(Duration.ofSeconds(10), argv));
      text.append("$ ").append(String.join(" ", argv)).append('\n').append(r.stdoutText()).append(r.stderrText());
    }
    return text.toString();
  }
}
