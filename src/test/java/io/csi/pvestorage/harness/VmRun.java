package io.csi.pvestorage.harness;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Boots the harness guest, runs commands in it and prints their exit code, stdout and stderr:
 * a tool for poking at the real tools by hand ({@code src/test/vm/run}). Commands are
 * separated by a {@code --} argument; each argument is one argv element (no shell involved).
 * With a single argument naming a file, the arguments are read from it, one per line.
 */
public final class VmRun {

  private VmRun() {}

  public static void main(String[] args) throws IOException {
    if (args.length == 1 && java.nio.file.Files.isRegularFile(java.nio.file.Path.of(args[0]))) {
      args = java.nio.file.Files.readAllLines(java.nio.file.Path.of(args[0])).toArray(String[]::new);
    }
    List<List<String>> commands = new ArrayList<>();
    List<String> current = new ArrayList<>();
    for (String arg : args) {
      if (arg.equals("--")) {
        if (!current.isEmpty()) {
          commands.add(current);
        }
        current = new ArrayList<>();
      } else {
        current.add(arg);
      }
    }
    if (!current.isEmpty()) {
      commands.add(current);
    }
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults())) {
      for (List<String> argv : commands) {
        CommandResult r = vm.runner().run(Command.of(Duration.ofMinutes(5), argv));
        System.out.printf("$ %s%n[exit %d, %d ms]%n", String.join(" ", argv), r.exitCode(),
            r.duration().toMillis());
        System.out.write(r.stdout());
        if (r.stderr().length > 0) {
          System.out.println("[stderr]");
          System.out.write(r.stderr());
        }
        System.out.flush();
      }
    }
  }
}
