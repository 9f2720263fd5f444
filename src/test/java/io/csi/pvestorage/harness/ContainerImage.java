package io.csi.pvestorage.harness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The driver's OCI image as {@code src/image/build} writes it ({@code
 * target/image/pve-storage-csi.oci.tar}), built once per test JVM from the jar of the package
 * phase, and read back from the archive as a runtime would: the index names the manifest, the
 * manifest the configuration.
 *
 * @param archive the OCI archive
 * @param tag the image's tag in the archive's index
 * @param manifestDigest the manifest's digest, which names this exact image
 * @param config the image configuration's {@code config} object (Entrypoint, Env, Labels ...)
 * @param layers how many layers the image has
 * @param buildTime how long the build script ran
 */
public record ContainerImage(Path archive, String tag, String manifestDigest, JsonNode config,
    int layers, Duration buildTime) {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** This JVM's build, or why there is none: the image is built once per test JVM. */
  private static ContainerImage built;
  private static RuntimeException failed;

  /**
   * Builds the image from target/ (or reuses this JVM's build), reads it and unpacks it on the
   * host. The build script's output goes to the test log with an {@code [image]} prefix. (It
   * does not run while the guest boots: on two busy cores that pushed the boot past its
   * deadline.)
   *
   * @throws HarnessUnavailableException when the image cannot be built here (no root, no
   *     umoci), with the script's error
   */
  public static synchronized ContainerImage obtain(Path projectDir) {
    if (built == null && failed == null) {
      try {
        ContainerImage image = build(projectDir);
        image.unpackedRootfs();
        built = image;
      } catch (RuntimeException e) {
        failed = e;
      }
    }
    if (failed != null) {
      throw failed;
    }
    return built;
  }

  private static ContainerImage build(Path projectDir) {
    Path script = projectDir.resolve("src/image/build");
    long start = System.nanoTime();
    String archive = null;
    List<String> errors = new ArrayList<>();
    int exit;
    try {
      Process process = new ProcessBuilder(script.toString(), "--no-package")
          .directory(projectDir.toFile())
          .redirectErrorStream(true)
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      try (BufferedReader out = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = out.readLine()) != null) {
          if (line.startsWith("IMAGE_ARCHIVE=")) {
            archive = line.substring("IMAGE_ARCHIVE=".length());
            continue;
          }
          if (line.startsWith("image: ERROR")) {
            errors.add(line);
          }
          System.out.println("[image] " + line);
        }
      }
      exit = process.waitFor();
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot run " + script + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HarnessUnavailableException("interrupted while building the image");
    }
    if (exit != 0 || archive == null) {
      throw new HarnessUnavailableException("the driver image cannot be built: "
          + (errors.isEmpty() ? script + " exited " + exit : String.join("; ", errors)));
    }
    return read(Path.of(archive), Duration.ofNanos(System.nanoTime() - start));
  }

  /** Reads tag, manifest and configuration from an OCI archive. */
  static ContainerImage read(Path archive, Duration buildTime) {
    JsonNode index = member(archive, "index.json");
    JsonNode manifestEntry = index.path("manifests").path(0);
    String digest = manifestEntry.path("digest").asText();
    String tag = manifestEntry.path("annotations").path("org.opencontainers.image.ref.name").asText();
    JsonNode manifest = member(archive, blob(digest));
    JsonNode config = member(archive, blob(manifest.path("config").path("digest").asText()));
    return new ContainerImage(archive, tag, digest, config.path("config"),
        manifest.path("layers").size(), buildTime);
  }

  private static String blob(String digest) {
    if (!digest.matches("sha256:[0-9a-f]{64}")) {
      throw new IllegalStateException("not a sha256 digest: '" + digest + "'");
    }
    return "blobs/sha256/" + digest.substring("sha256:".length());
  }

  /** One JSON member of the archive, read with tar (the JDK has no tar reader). */
  private static JsonNode member(Path archive, String name) {
    try {
      Process tar = new ProcessBuilder("tar", "-xOf", archive.toString(), name)
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      byte[] bytes = tar.getInputStream().readAllBytes();
      if (!tar.waitFor(60, TimeUnit.SECONDS) || tar.exitValue() != 0) {
        throw new IllegalStateException(archive + " has no readable " + name);
      }
      return JSON.readTree(bytes);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + name + " of " + archive + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The configuration's parts that decide how a container of this image starts. */
  public PodRuntimeSpec.ImageConfig runtimeConfig() {
    return new PodRuntimeSpec.ImageConfig(strings(config.path("Entrypoint")),
        strings(config.path("Cmd")), strings(config.path("Env")),
        config.path("WorkingDir").asText("/"));
  }

  /** The image's labels. */
  public Map<String, String> labels() {
    Map<String, String> labels = new TreeMap<>();
    config.path("Labels").properties().forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
    return labels;
  }

  /**
   * The image's root file system unpacked on the host next to the archive ({@code
   * rootfs-<digest>}), by umoci from the archive's layers, as a runtime unpacks what it pulled.
   * Reused while the image is the same; the guest reads it over the project share. Unpacking
   * here takes seconds, in the emulated guest minutes.
   */
  public synchronized Path unpackedRootfs() {
    Path rootfs = archive.resolveSibling("rootfs-" + shortDigest());
    Path complete = archive.resolveSibling("rootfs-" + shortDigest() + ".complete");
    if (Files.exists(complete)) {
      return rootfs;
    }
    long start = System.nanoTime();
    Path layout = archive.resolveSibling("layout-" + shortDigest());
    try {
      try (Stream<Path> old = Files.list(archive.getParent())) {
        for (Path p : old.filter(p -> p.getFileName().toString().matches("(rootfs|layout)-.*")).toList()) {
          command("rm", "-rf", p.toString());
        }
      }
      Files.createDirectories(layout);
      command("tar", "-xf", archive.toString(), "-C", layout.toString());
      command("umoci", "raw", "unpack", "--image", layout + ":" + tag, rootfs.toString());
      command("rm", "-rf", layout.toString());
      Files.createFile(complete);
    } catch (IOException e) {
      throw new HarnessUnavailableException("cannot unpack " + archive + ": " + e.getMessage(), e);
    }
    VmHarness.log("image %s (%s) unpacked on the host in %.1f s", tag, shortDigest(),
        (System.nanoTime() - start) / 1e9);
    return rootfs;
  }

  private static void command(String... argv) throws IOException {
    Process process = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
        throw new IOException(String.join(" ", argv) + " failed: " + output.strip());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", argv), e);
    }
  }

  /** A short form of the manifest digest, for directory names. */
  public String shortDigest() {
    return manifestDigest.substring("sha256:".length(), "sha256:".length() + 12);
  }

  static List<String> strings(JsonNode array) {
    List<String> values = new ArrayList<>();
    array.forEach(node -> values.add(node.asText()));
    return values;
  }
}
