package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * One recorded command from {@code src/test/resources/fixtures/zfs/2.1.11/} (written by the
 * harness's FixtureRecorder from real OpenZFS): argv, stdout, stderr, exit code.
 */
record Fixture(String name, List<String> argv, byte[] stdout, byte[] stderr, int exit) {

  static final String DIR = "/fixtures/zfs/2.1.11/";

  static Fixture load(String name) {
    String cmd = text(name + ".cmd");
    return new Fixture(name, cmd.lines().toList(), bytes(name + ".stdout"),
        bytes(name + ".stderr"), Integer.parseInt(text(name + ".exit").strip()));
  }

  String stdoutText() {
    return new String(stdout, StandardCharsets.UTF_8);
  }

  String stderrText() {
    return new String(stderr, StandardCharsets.UTF_8);
  }

  /** The fixture as the result of its own command. */
  CommandResult result() {
    return new CommandResult(Command.of(Duration.ofSeconds(1), argv), exit, stdout, stderr,
        Duration.ZERO);
  }

  private static String text(String file) {
    return new String(bytes(file), StandardCharsets.UTF_8);
  }

  private static byte[] bytes(String file) {
    try (InputStream in = Fixture.class.getResourceAsStream(DIR + file)) {
      if (in == null) {
        throw new IllegalStateException("no fixture " + DIR + file);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
