package io.csi.pvestorage.exec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The live processes of this PID namespace, found by a marker in their environment. Commands run
 * under a storage lock carry the lock holder's identity in their environment, which their
 * children inherit and which stays when the driver that started them dies; a new holder reads
 * {@code /proc/<pid>/environ} to find the commands of an earlier holder that still run,
 * orphans included.
 *
 * <p>A process that has exited but was not reaped yet (a zombie) has no environment any more and
 * is not listed: its command has ended. Processes that vanish or cannot be read while the table
 * is scanned are skipped.
 */
public final class ProcessTable {

  private final Path proc;

  /** @param proc the proc file system, {@code /proc} outside tests */
  public ProcessTable(Path proc) {
    this.proc = Objects.requireNonNull(proc, "proc");
  }

  /** The table of this machine's (this PID namespace's) processes. */
  public static ProcessTable system() {
    return new ProcessTable(Path.of("/proc"));
  }

  /**
   * A process found by its marker.
   *
   * @param pid its process ID
   * @param name its command name ({@code /proc/<pid>/comm}), for messages
   * @param environment the variables of its environment that start with the marker's prefix
   */
  public record MarkedProcess(long pid, String name, Map<String, String> environment) {}

  /**
   * The processes whose environment holds {@code key=value}.
   *
   * @return each with those of its environment variables that share {@code key}'s prefix up to
   *     and including its first underscore (e.g. every {@code PVE_CSI_...} variable)
   */
  public List<MarkedProcess> withEnvironment(String key, String value) {
    byte[] wanted = (key + "=" + value).getBytes(StandardCharsets.UTF_8);
    String family = key.substring(0, key.indexOf('_') + 1);
    List<MarkedProcess> found = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(proc, ProcessTable::isPid)) {
      for (Path dir : entries) {
        byte[] environ;
        try {
          environ = Files.readAllBytes(dir.resolve("environ"));
        } catch (IOException | SecurityException e) {
          continue; // gone meanwhile, or not ours to read
        }
        if (!holds(environ, wanted)) {
          continue;
        }
        found.add(new MarkedProcess(Long.parseLong(dir.getFileName().toString()), name(dir),
            variables(environ, family)));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot list " + proc + ": " + e.getMessage(), e);
    }
    return found;
  }

  private static boolean isPid(Path path) {
    String name = path.getFileName().toString();
    return !name.isEmpty() && name.chars().allMatch(c -> c >= '0' && c <= '9');
  }

  /** Whether the NUL-separated environment holds exactly the entry {@code wanted}. */
  private static boolean holds(byte[] environ, byte[] wanted) {
    int start = 0;
    while (start < environ.length) {
      int end = start;
      while (end < environ.length && environ[end] != 0) {
        end++;
      }
      if (end - start == wanted.length
          && java.util.Arrays.equals(environ, start, end, wanted, 0, wanted.length)) {
        return true;
      }
      start = end + 1;
    }
    return false;
  }

  private static Map<String, String> variables(byte[] environ, String family) {
    Map<String, String> vars = new LinkedHashMap<>();
    for (String entry : new String(environ, StandardCharsets.UTF_8).split("\0")) {
      int eq = entry.indexOf('=');
      if (eq > 0 && entry.startsWith(family)) {
        vars.put(entry.substring(0, eq), entry.substring(eq + 1));
      }
    }
    return vars;
  }

  private static String name(Path dir) {
    try {
      return Files.readString(dir.resolve("comm"), StandardCharsets.UTF_8).strip();
    } catch (IOException | SecurityException e) {
      return "?";
    }
  }
}
