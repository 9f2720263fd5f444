package io.csi.pvestorage.harness;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The cached guest image (kernel, initramfs, root image) produced by {@code
 * src/test/vm/build-image}. The script owns the cache key and the build; this class runs it
 * (a warm start costs well under a second) and reads the directory it names.
 *
 * @param dir the cache directory {@code .cache/vm/<key>}
 * @param built true if this call built the image (cold), false if it was cached
 * @param elapsed how long the script ran
 */
public record VmImage(Path dir, boolean built, Duration elapsed) {

  public Path kernel() {
    return dir.resolve("vmlinuz");
  }

  public Path initrd() {
    return dir.resolve("initrd.img");
  }

  public Path rootImage() {
    return dir.resolve("root.img");
  }

  /** The key the build script derived from its inputs (last path element). */
  public String key() {
    return dir.getFileName().toString();
  }

  /**
   * Builds or reuses the image. The script's output is echoed with a {@code [build-image]}
   * prefix so that step times reach the test log.
   *
   * @throws HarnessUnavailableException naming what is missing when the image cannot be had
   */
  static VmImage obtain(Path projectDir) {
    Path script = projectDir.resolve("src/test/vm/build-image");
    if (!Files.isExecutable(script)) {
      throw new HarnessUnavailableException("the image build script " + script + " is missing");
    }
    long start = System.nanoTime();
    List<String> lastErrors = new ArrayList<>();
    String dir = null;
    boolean built = false;
    int exit;
    try {
      Process process = new ProcessBuilder(List.of(script.toString()))
          .directory(projectDir.toFile())
          .redirectErrorStream(true)
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      try (BufferedReader out = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = out.readLine()) != null) {
          if (line.startsWith("VM_IMAGE_DIR=")) {
            dir = line.substring("VM_IMAGE_DIR=".length());
            continue;
          }
          if (line.startsWith("vm image: built")) {
            built = true;
          }
          if (line.startsWith("vm image: ERROR")) {
            lastErrors.add(line);
          }
          System.out.println("[build-image] " + line);
        }
      }
      exit = process.waitFor();
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot run " + script + ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HarnessUnavailableException("interrupted while building the VM image");
    }
    if (exit != 0 || dir == null) {
      throw new HarnessUnavailableException("the VM image cannot be had: "
          + (lastErrors.isEmpty() ? script + " exited " + exit : String.join("; ", lastErrors)));
    }
    return new VmImage(Path.of(dir), built, Duration.ofNanos(System.nanoTime() - start));
  }
}
