package io.csi.pvestorage.error;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The one exception type of the driver's storage, node and lock layers.
 *
 * <p>It carries an {@link ErrorKind} that decides the gRPC code, a message for humans that
 * says what to fix, and, when an external command failed, that command's argv, exit code and
 * standard error, so the tool's own words reach the operator.
 */
public final class StorageException extends RuntimeException {

  private final ErrorKind kind;
  private final List<String> command;
  private final Integer exitCode;
  private final String stderr;

  private StorageException(
      ErrorKind kind,
      String message,
      List<String> command,
      Integer exitCode,
      String stderr,
      Throwable cause) {
    super(message, cause);
    this.kind = Objects.requireNonNull(kind, "kind");
    this.command = command == null ? List.of() : List.copyOf(command);
    this.exitCode = exitCode;
    this.stderr = stderr == null ? "" : stderr;
  }

  /** A failure that did not come from an external command. */
  public StorageException(ErrorKind kind, String message) {
    this(kind, message, null, null, null, null);
  }

  /** A failure that did not come from an external command, with its cause. */
  public StorageException(ErrorKind kind, String message, Throwable cause) {
    this(kind, message, null, null, null, cause);
  }

  /**
   * A failure of an external command.
   *
   * @param command the argv that ran (without any host prefix)
   * @param exitCode its exit code, or {@code null} when it never finished (timeout, signal)
   * @param stderr its standard error, kept verbatim (trimmed)
   */
  public static StorageException ofCommand(
      ErrorKind kind, String message, List<String> command, Integer exitCode, String stderr) {
    return new StorageException(kind, message, command, exitCode, stderr, null);
  }

  /** Same failure with another kind, e.g. when a caller knows "not found" is fine here. */
  public StorageException withKind(ErrorKind newKind) {
    return new StorageException(newKind, getMessage(), command, exitCode, stderr, getCause());
  }

  public ErrorKind kind() {
    return kind;
  }

  /** The failed command's argv; empty when no command was involved. */
  public List<String> command() {
    return command;
  }

  public Optional<Integer> exitCode() {
    return Optional.ofNullable(exitCode);
  }

  /** The failed command's standard error; empty when none. */
  public String stderr() {
    return stderr;
  }

  /**
   * The message plus, for a command failure, the command, exit code and the tool's stderr:
   * what the CO shows to the user and what the logs record.
   */
  public String describe() {
    if (command.isEmpty()) {
      return getMessage();
    }
    StringBuilder text = new StringBuilder(getMessage());
    text.append(" [command: ").append(String.join(" ", command));
    if (exitCode != null) {
      text.append(", exit ").append(exitCode);
    }
    text.append(']');
    if (!stderr.isBlank()) {
      text.append(": ").append(stderr.strip());
    }
    return text.toString();
  }
}
