package io.csi.pvestorage.exec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Storage tools that are really {@code sleep}: a symbolic link named {@code lvcreate} or {@code
 * lvs} to {@code /usr/bin/sleep}, so that a test runs a real process for a known time (its first
 * argument, in seconds) which the exec layer classifies by the tool's name.
 */
public final class SlowTools {

  private SlowTools() {}

  /** Makes (once) {@code dir/<tool>} pointing at sleep and returns it. */
  public static Path link(Path dir, String tool) throws IOException {
    Path link = dir.resolve(tool);
    if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      Files.createSymbolicLink(link, sleep());
    }
    return link;
  }

  private static Path sleep() {
    for (String candidate : new String[] {"/usr/bin/sleep", "/bin/sleep"}) {
      if (Files.isExecutable(Path.of(candidate))) {
        return Path.of(candidate);
      }
    }
    throw new IllegalStateException("no sleep program in /usr/bin or /bin");
  }
}
