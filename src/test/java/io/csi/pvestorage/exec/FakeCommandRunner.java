package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.fail;

import io.csi.pvestorage.error.StorageException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Supplier;

/**
 * A scripted {@link CommandRunner} for service tests: each expected command is an exact argv
 * with the stdout, stderr and exit code to replay (often loaded from a recorded fixture).
 * Commands must arrive in the scripted order; anything else fails the test at once, naming the
 * command that was expected. {@link #verifyAllConsumed()} fails if scripted commands never ran.
 */
public final class FakeCommandRunner implements CommandRunner {

  private record Expectation(List<String> argv, Supplier<CommandResultSpec> answer) {}

  /** What a scripted command answers. */
  public record CommandResultSpec(int exitCode, byte[] stdout, byte[] stderr, StorageException thrown) {}

  private final Deque<Expectation> expected = new ArrayDeque<>();
  private final List<Command> ran = new ArrayList<>();

  /** Starts scripting a command with this exact argv. */
  public Reply expect(String... argv) {
    return expect(List.of(argv));
  }

  /** Starts scripting a command with this exact argv. */
  public Reply expect(List<String> argv) {
    return new Reply(List.copyOf(argv));
  }

  /** The answer half of an expectation. */
  public final class Reply {
    private final List<String> argv;

    private Reply(List<String> argv) {
      this.argv = argv;
    }

    /** Exit 0 with this stdout and no stderr. */
    public FakeCommandRunner thenSucceed(String stdout) {
      return thenExit(0, stdout, "");
    }

    /** Exit 0 with no output. */
    public FakeCommandRunner thenSucceed() {
      return thenExit(0, "", "");
    }

    /** Any exit code, stdout and stderr. */
    public FakeCommandRunner thenExit(int exitCode, String stdout, String stderr) {
      CommandResultSpec spec = new CommandResultSpec(exitCode,
          stdout.getBytes(StandardCharsets.UTF_8), stderr.getBytes(StandardCharsets.UTF_8), null);
      expected.add(new Expectation(argv, () -> spec));
      return FakeCommandRunner.this;
    }

    /** The runner itself fails (timeout, cannot start, cancelled). */
    public FakeCommandRunner thenThrow(StorageException failure) {
      CommandResultSpec spec = new CommandResultSpec(-1, null, null, failure);
      expected.add(new Expectation(argv, () -> spec));
      return FakeCommandRunner.this;
    }
  }

  @Override
  public synchronized CommandResult run(Command command) {
    ran.add(command);
    Expectation next = expected.pollFirst();
    if (next == null) {
      fail("unexpected command (nothing more was scripted): " + command.argv());
    }
    if (!next.argv().equals(command.argv())) {
      fail("unexpected command\n  expected: " + next.argv() + "\n  actual:   " + command.argv());
    }
    CommandResultSpec spec = next.answer().get();
    if (spec.thrown() != null) {
      throw spec.thrown();
    }
    return new CommandResult(command, spec.exitCode(), spec.stdout(), spec.stderr(), Duration.ZERO);
  }

  /** Every command that ran, in order. */
  public synchronized List<Command> commands() {
    return List.copyOf(ran);
  }

  /** Fails if some scripted commands never ran. */
  public synchronized void verifyAllConsumed() {
    if (!expected.isEmpty()) {
      fail("scripted commands that never ran: " + expected.stream().map(Expectation::argv).toList());
    }
  }
}
