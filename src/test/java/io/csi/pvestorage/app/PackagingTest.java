package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Static checks of what cannot be built here (no Docker engine) and of build facts. */
class PackagingTest {

  private static final Path DOCKERFILE = Path.of("Dockerfile");

  @Test
  void dockerfileIsMultiStageWithTheStorageToolsAndTheTunedJvm() throws Exception {
    List<String> lines = Files.readAllLines(DOCKERFILE);
    String text = String.join("\n", lines);
    long stages = lines.stream().filter(l -> l.startsWith("FROM ")).count();
    assertTrue(stages >= 2, "multi-stage build");
    assertTrue(text.contains("mvn -B -q -DskipTests package"), "the jar is built by Maven");
    for (String pkg : List.of("lvm2", "thin-provisioning-tools", "zfsutils-linux", "e2fsprogs",
        "xfsprogs", "util-linux", "udev")) {
      assertTrue(text.matches("(?s).*apt-get install[^\\n]*\\\\\\n\\s+[^\\n]*\\b" + pkg + "\\b.*"),
          "runtime installs " + pkg);
    }
    for (String label : List.of("title", "description", "version", "source", "licenses")) {
      assertTrue(text.contains("org.opencontainers.image." + label + "="), "OCI label " + label);
    }
    assertTrue(text.contains("COPY src/main/jvm/jvm.options /app/jvm.options"));
    String entrypoint = lines.stream().filter(l -> l.startsWith("ENTRYPOINT")).findFirst().orElseThrow();
    assertEquals("ENTRYPOINT [\"java\", \"@/app/jvm.options\", \"-XX:SharedArchiveFile=/app/driver.jsa\", "
        + "\"-jar\", \"/app/pve-storage-csi.jar\"]", entrypoint);
  }

  @Test
  void theJvmOptionsAreAcceptedByThisJdk() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process p = new ProcessBuilder(java.toString(), "@src/main/jvm/jvm.options", "-version")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
  }

  @Test
  void theBuildReportsTheCsiVersionOfTheContract() throws Exception {
    String contract = Files.readString(Path.of("csi-spec/VERSION")).strip();
    assertEquals("1.12.0", contract);
    assertEquals(contract, BuildInfo.load().csiSpecVersion());
    assertTrue(!BuildInfo.load().version().contains("${"), "version filtered by Maven");
  }
}
