package io.csi.pvestorage.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.MalformedInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Repository hygiene: no package mirror is named anywhere (builds take the mirror the machine's
 * apt already uses, {@code .ci/apt-mirror.sh}), the LICENSE is the license the pom and the
 * image's labels declare, and the Docker build context is kept small.
 */
class HygieneTest {

  /** Hosts of Debian, Ubuntu and other distributions' package archives and their mirrors. */
  private static final Pattern MIRROR_HOST = Pattern.compile(
      "(?i)\\b(deb\\.debian\\.org|security\\.debian\\.org|ftp\\.[a-z]{2}\\.debian\\.org"
          + "|httpredir\\.debian\\.org|http\\.debian\\.net|cdn-fastly\\.deb\\.debian\\.org"
          + "|mirrors?\\.[a-z0-9.-]+\\.(?:org|net|com|edu)|archive\\.ubuntu\\.com"
          + "|ports\\.ubuntu\\.com|download\\.proxmox\\.com|dl-cdn\\.alpinelinux\\.org)\\b");

  /** Top-level directories that are not the project's own text (build output, caches). */
  private static final Set<String> SKIPPED = Set.of(".git", "target", ".cache");

  @Test
  void noPackageMirrorHostIsHardCoded() throws IOException {
    List<String> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(Path.of("."))) {
      files.filter(Files::isRegularFile)
          .filter(f -> !SKIPPED.contains(f.getName(1).toString()))
          .filter(f -> !f.toString().contains("/src/test/resources/fixtures/"))
          .filter(f -> !f.getFileName().toString().equals("HygieneTest.java"))
          .forEach(f -> {
            String text = readText(f);
            Matcher m = MIRROR_HOST.matcher(text);
            while (m.find()) {
              found.add(f + ": " + m.group());
            }
          });
    }
    assertEquals(List.of(), found, "take the mirror from the machine's apt (.ci/apt-mirror.sh)");
  }

  @Test
  void theMirrorPatternCatchesTheUsualHosts() {
    for (String host : List.of("http://deb.debian.org/debian", "ftp.de.debian.org",
        "http://archive.ubuntu.com/ubuntu", "https://mirror.example.org/debian")) {
      assertTrue(MIRROR_HOST.matcher(host).find(), host);
    }
  }

  @Test
  void theLicenseFileIsTheLicenseThePomAndTheImageDeclare() throws IOException {
    String license = Files.readString(Path.of("LICENSE"));
    assertTrue(license.contains("Apache License") && license.contains("Version 2.0, January 2004")
        && license.contains("END OF TERMS AND CONDITIONS"), "LICENSE is the Apache License 2.0");
    Properties image = new Properties();
    try (var in = Files.newInputStream(Path.of("src/image/image.properties"))) {
      image.load(in);
    }
    assertEquals("Apache-2.0", image.getProperty("label.org.opencontainers.image.licenses"));
    assertTrue(Files.readString(Path.of("pom.xml")).contains("<name>Apache-2.0</name>"));
  }

  @Test
  void theDockerBuildContextIsOnlyWhatTheBuildNeeds() throws IOException {
    List<String> rules = Files.readAllLines(Path.of(".dockerignore")).stream()
        .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    assertEquals(List.of("*", "!pom.xml", "!csi-spec/", "!src/"), rules);
  }

  private static String readText(Path file) {
    try {
      return Files.readString(file);
    } catch (MalformedInputException e) {
      return "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
