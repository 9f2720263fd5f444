package io.csi.pvestorage.harness;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs {@link Command}s inside the harness guest through its command agent: the argv is
 * executed directly by the agent (no shell), with {@code LC_ALL=C} plus the command's
 * environment, and stdout, stderr and the exit code come back separately and byte-exact.
 *
 * <p>Thread-safe and concurrent: requests are multiplexed by id over one connection and the
 * agent runs each in its own thread, so concurrent callers really run concurrently in the guest.
 *
 * <p>The guest enforces the timeout (it kills the command's process group) and the runner then
 * throws UNAVAILABLE, as {@link io.csi.pvestorage.exec.ProcessCommandRunner} does. If the guest
 * does not answer within the timeout plus a margin (a hung guest), the runner gives up the same
 * way. An interrupted caller cancels the command in the guest and gets ABORTED.
 */
public final class GuestCommandRunner implements CommandRunner {

  /** How long past the command's own timeout the host waits for the guest to report it. */
  private static final Duration HOST_MARGIN = Duration.ofSeconds(15);

  private final AgentConnection agent;

  GuestCommandRunner(AgentConnection agent) {
    this.agent = agent;
  }

  @Override
  public CommandResult run(Command command) {
    List<String> env = new ArrayList<>();
    env.add("LC_ALL=C");
    for (Map.Entry<String, String> e : command.environment().entrySet()) {
      env.add(e.getKey() + "=" + e.getValue());
    }
    String id = agent.newId();
    long start = System.nanoTime();
    List<String> requestFields = new ArrayList<>(List.of(
        Long.toString(Math.max(1, command.timeout().toMillis())),
        AgentConnection.encodeList(env),
        AgentConnection.encodeList(command.argv())));
    // A secret goes to the command's stdin in the guest, as ProcessCommandRunner feeds it.
    command.stdin().ifPresent(secret -> requestFields.add(AgentConnection.encode(secret.bytes())));
    CompletableFuture<List<String>> reply = agent.requestWithId(id, "run",
        requestFields.toArray(String[]::new));
    List<String> fields;
    try {
      fields = reply.get(command.timeout().plus(HOST_MARGIN).toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      agent.request("cancel", id);
      Thread.currentThread().interrupt();
      throw StorageException.ofCommand(
          ErrorKind.ABORTED, command.verb() + " was cancelled", command.argv(), null, "");
    } catch (TimeoutException e) {
      agent.request("cancel", id);
      throw StorageException.ofCommand(ErrorKind.UNAVAILABLE,
          command.verb() + ": the guest did not answer within "
              + command.timeout().plus(HOST_MARGIN).toSeconds() + " s",
          command.argv(), null, "");
    } catch (ExecutionException e) {
      throw StorageException.ofCommand(ErrorKind.UNAVAILABLE,
          "cannot run " + command.verb() + " in the guest: " + e.getCause().getMessage(),
          command.argv(), null, "");
    }
    Duration wall = Duration.ofNanos(System.nanoTime() - start);
    switch (fields.get(0)) {
      case "exit" -> {
        return new CommandResult(command, Integer.parseInt(fields.get(1)),
            AgentConnection.decode(fields.get(2)), AgentConnection.decode(fields.get(3)), wall);
      }
      case "timeout" -> throw StorageException.ofCommand(ErrorKind.UNAVAILABLE,
          command.verb() + " timed out after " + command.timeout().toSeconds() + " s",
          command.argv(), null,
          new String(AgentConnection.decode(fields.get(2)), StandardCharsets.UTF_8).strip());
      case "error" -> throw StorageException.ofCommand(ErrorKind.UNAVAILABLE,
          new String(AgentConnection.decode(fields.get(1)), StandardCharsets.UTF_8),
          command.argv(), null, "");
      default -> throw StorageException.ofCommand(ErrorKind.INTERNAL,
          "unexpected agent response " + fields, command.argv(), null, "");
    }
  }

  /**
   * Writes a small text file in the guest (at most about 100 KiB: the text travels as one
   * argument of a python one-liner, never through a shell).
   */
  public void writeFile(String path, String text) {
    run(Command.of(Duration.ofSeconds(60), "python3", "-c",
        "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, text)).requireSuccess();
  }
}
