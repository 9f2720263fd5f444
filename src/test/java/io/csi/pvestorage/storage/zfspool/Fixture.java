package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.time.Duration;
import java.util.List;

/**
 * A zfs 2.1.11 fixture (recorded from real OpenZFS by the harness's FixtureRecorder), loaded
 * with the shared {@link io.csi.pvestorage.fixtures.Fixture}, plus the view these tests need:
 * the recording as the {@link CommandResult} of its own command.
 */
record Fixture(io.csi.pvestorage.fixtures.Fixture recorded) {

  static Fixture load(String name) {
    return new Fixture(io.csi.pvestorage.fixtures.Fixture.load("zfs", "2.1.11", name));
  }

  List<String> argv() {
    return recorded.argv();
  }

  int exit() {
    return recorded.exitCode();
  }

  String stdoutText() {
    return recorded.stdoutText();
  }

  String stderrText() {
    return recorded.stderrText();
  }

  CommandResult result() {
    return new CommandResult(Command.of(Duration.ofSeconds(1), argv()), exit(),
        recorded.stdout(), recorded.stderr(), Duration.ZERO);
  }
}
