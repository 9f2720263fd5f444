package io.csi.pvestorage.harness;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.FixtureScenarios.Kind;
import io.csi.pvestorage.harness.FixtureScenarios.Scenario;
import io.csi.pvestorage.harness.FixtureScenarios.Step;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Records real tool output from the harness guest as test fixtures ({@code
 * src/test/vm/record-fixtures}). Runs every {@link FixtureScenarios scenario} and writes, for
 * each recorded command, into {@code src/test/resources/fixtures/<tool>/<tool version>/}:
 * {@code <name>.cmd} (the exact argv, one argument per line), {@code <name>.stdout}, {@code
 * <name>.stderr} (bytes as the tool wrote them) and {@code <name>.exit}. The version directory
 * is replaced as a whole, so no stale fixture survives a re-recording.
 *
 * <p>With {@code -Dfixtures.scenarios=lvm/plugin,...} ({@code tool/name}, comma-separated) only
 * those scenarios run and only their fixtures are (over)written; the rest of the directory is
 * left alone, so adding a scenario does not re-record (and churn) every other fixture.
 */
public final class FixtureRecorder {

  private static final Duration TIMEOUT = Duration.ofMinutes(2);

  private final GuestCommandRunner guest;
  private final Path fixtures;

  FixtureRecorder(GuestCommandRunner guest, Path fixtures) {
    this.guest = guest;
    this.fixtures = fixtures;
  }

  public static void main(String[] args) throws IOException {
    VmHarness.Config config = VmHarness.Config.defaults();
    Path fixtures = config.projectDir().resolve("src/test/resources/fixtures");
    try (VmHarness vm = VmHarness.start(config)) {
      String only = System.getProperty("fixtures.scenarios", "");
      List<Scenario> scenarios = FixtureScenarios.all();
      if (!only.isBlank()) {
        List<String> wanted = List.of(only.split(","));
        scenarios = scenarios.stream()
            .filter(s -> wanted.contains(s.tool() + "/" + s.name())).toList();
        if (scenarios.size() != wanted.size()) {
          throw new IllegalArgumentException("unknown scenario in -Dfixtures.scenarios=" + only);
        }
      }
      int written = new FixtureRecorder(vm.runner(), fixtures)
          .recordAll(scenarios, only.isBlank());
      VmHarness.log("recorded %d fixtures under %s", written, fixtures);
    }
  }

  int recordAll(List<Scenario> scenarios) throws IOException {
    return recordAll(scenarios, true);
  }

  /** @param replaceDirs whether each version directory is emptied first (a full recording) */
  int recordAll(List<Scenario> scenarios, boolean replaceDirs) throws IOException {
    String lvmVersion = version(List.of("lvm", "version"), Pattern.compile("LVM version:\\s*([0-9.]+)"));
    String zfsVersion = version(List.of("zfs", "version"), Pattern.compile("^zfs-([0-9.]+)"));
    Set<Path> cleared = new HashSet<>();
    Set<Path> names = new HashSet<>();
    int written = 0;
    for (Scenario scenario : scenarios) {
      Path dir = fixtures.resolve(scenario.tool())
          .resolve(scenario.tool().equals("lvm") ? lvmVersion : zfsVersion);
      if (cleared.add(dir)) {
        if (replaceDirs) {
          deleteTree(dir);
        }
        Files.createDirectories(dir);
      }
      VmHarness.log("scenario %s/%s", scenario.tool(), scenario.name());
      try {
        for (Step step : scenario.steps()) {
          if (step.kind() == Kind.CLEANUP) {
            continue;
          }
          CommandResult result = guest.run(Command.of(TIMEOUT, step.argv()));
          switch (step.kind()) {
            case SETUP -> {
              if (!result.succeeded()) {
                throw new IllegalStateException("setup of " + scenario.tool() + "/" + scenario.name()
                    + " failed: " + result.failure(io.csi.pvestorage.error.ErrorKind.INTERNAL,
                        result.command().verb() + " failed").describe());
              }
            }
            case RECORD, RECORD_FAILURE -> {
              boolean failed = result.exitCode() != 0;
              if (failed != (step.kind() == Kind.RECORD_FAILURE)) {
                throw new IllegalStateException("fixture " + step.name() + ": expected "
                    + (failed ? "success" : "a failure") + " but got exit " + result.exitCode()
                    + " from " + step.argv() + "\n" + result.stderrText());
              }
              if (!names.add(dir.resolve(step.name()))) {
                throw new IllegalStateException("fixture name used twice: " + step.name());
              }
              write(dir, step, result);
              written++;
            }
            default -> throw new AssertionError(step.kind());
          }
        }
      } finally {
        for (Step step : scenario.steps()) {
          if (step.kind() == Kind.CLEANUP) {
            guest.run(Command.of(TIMEOUT, step.argv()));
          }
        }
      }
    }
    return written;
  }

  private static void write(Path dir, Step step, CommandResult result) throws IOException {
    for (String arg : step.argv()) {
      if (arg.indexOf('\n') >= 0) {
        throw new IllegalArgumentException("an argument with a newline cannot go into a .cmd file: " + arg);
      }
    }
    Files.writeString(dir.resolve(step.name() + ".cmd"), String.join("\n", step.argv()) + "\n",
        StandardCharsets.UTF_8);
    Files.write(dir.resolve(step.name() + ".stdout"), result.stdout());
    Files.write(dir.resolve(step.name() + ".stderr"), result.stderr());
    Files.writeString(dir.resolve(step.name() + ".exit"), result.exitCode() + "\n");
  }

  private String version(List<String> argv, Pattern pattern) {
    CommandResult result = guest.run(Command.of(TIMEOUT, argv)).requireSuccess();
    Matcher m = pattern.matcher(result.stdoutText());
    if (!m.find()) {
      throw new IllegalStateException("no version in the output of " + argv + ": " + result.stdoutText());
    }
    return m.group(1);
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
