package io.csi.pvestorage.exec;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;

/**
 * What a finished command produced. Standard output and standard error are kept apart and
 * byte-exact; parsers read {@link #stdoutText()}, errors quote {@link #stderrText()}.
 *
 * @param command the command that ran
 * @param exitCode its exit code (0 = success)
 * @param stdout everything it wrote to standard output
 * @param stderr everything it wrote to standard error
 * @param duration wall time from start to exit
 */
public record CommandResult(
    Command command, int exitCode, byte[] stdout, byte[] stderr, Duration duration) {

  public CommandResult {
    Objects.requireNonNull(command, "command");
    Objects.requireNonNull(duration, "duration");
    stdout = stdout == null ? new byte[0] : stdout;
    stderr = stderr == null ? new byte[0] : stderr;
  }

  public boolean succeeded() {
    return exitCode == 0;
  }

  public String stdoutText() {
    return new String(stdout, StandardCharsets.UTF_8);
  }

  public String stderrText() {
    return new String(stderr, StandardCharsets.UTF_8);
  }

  /** A {@link StorageException} for this result, carrying argv, exit code and stderr. */
  public StorageException failure(ErrorKind kind, String message) {
    return StorageException.ofCommand(
        kind, message, command.argv(), exitCode, stderrText().strip());
  }

  /**
   * Returns this result if the command succeeded, else throws an INTERNAL failure. Use it for
   * commands whose failures need no finer classification.
   */
  public CommandResult requireSuccess() {
    if (!succeeded()) {
      throw failure(ErrorKind.INTERNAL, command.verb() + " failed");
    }
    return this;
  }
}
