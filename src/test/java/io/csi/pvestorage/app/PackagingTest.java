package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.csi.pvestorage.harness.ImageFacts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Dockerfile against the image's facts (src/image/image.properties), which src/image/build
 * makes the OCI image from: no Docker engine runs here, so the Dockerfile is read, instruction by
 * instruction, and every fact the two ways of building share must appear in it as the facts say.
 * (ContainerImageFacts in the container ITs checks the built archive against the same facts.)
 */
class PackagingTest {

  private static final Path DOCKERFILE = Path.of("Dockerfile");
  private static final ImageFacts FACTS = ImageFacts.load(Path.of("."));
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One instruction with its continuation lines joined and blanks collapsed, comments dropped. */
  private record Instruction(String keyword, String arguments) {}

  private static List<Instruction> instructions() throws Exception {
    List<Instruction> result = new ArrayList<>();
    StringBuilder pending = new StringBuilder();
    for (String line : Files.readAllLines(DOCKERFILE)) {
      String stripped = line.strip();
      if (stripped.startsWith("#") || (stripped.isEmpty() && pending.isEmpty())) {
        continue;
      }
      if (stripped.endsWith("\\")) {
        pending.append(stripped, 0, stripped.length() - 1).append(' ');
        continue;
      }
      pending.append(stripped);
      String text = pending.toString().strip().replaceAll("\\s+", " ");
      pending.setLength(0);
      int space = text.indexOf(' ');
      result.add(new Instruction(text.substring(0, space), text.substring(space + 1).strip()));
    }
    return result;
  }

  /** The instructions of the last stage, the image that ships. */
  private static List<Instruction> finalStage() throws Exception {
    List<Instruction> all = instructions();
    int from = 0;
    for (int i = 0; i < all.size(); i++) {
      if (all.get(i).keyword().equals("FROM")) {
        from = i;
      }
    }
    return all.subList(from, all.size());
  }

  private static List<Instruction> all(List<Instruction> instructions, String keyword) {
    return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
  }

  private static String only(List<Instruction> instructions, String keyword) {
    List<Instruction> found = all(instructions, keyword);
    assertEquals(1, found.size(), "one " + keyword + " in the final stage");
    return found.getFirst().arguments();
  }

  private static List<String> jsonArray(String text) throws Exception {
    return JSON.readValue(text, new TypeReference<List<String>>() {});
  }

  @Test
  void theRuntimeIsTheDebianSuiteOfTheFactsWithTheirPackagesAndComponents() throws Exception {
    List<Instruction> stage = finalStage();
    assertEquals("debian:" + FACTS.get("debian.suite") + "-slim", stage.getFirst().arguments());
    List<Instruction> runs = all(stage, "RUN");
    String apt = runs.stream().map(Instruction::arguments).filter(a -> a.contains("apt-get install"))
        .findFirst().orElseThrow();
    Matcher install = Pattern.compile("apt-get install -y --no-install-recommends ([^&]+)")
        .matcher(apt);
    assertTrue(install.find(), apt);
    assertEquals(new TreeSet<>(FACTS.words("packages")),
        new TreeSet<>(Arrays.asList(install.group(1).trim().split("\\s+"))));
    assertTrue(apt.contains("s/^Components: main$/Components: " + FACTS.get("debian.components")
        + "/"), "the components of the facts: " + apt);
  }

  @Test
  void theJavaRuntimeIsLinkedWithTheModulesAndOptionsOfTheFacts() throws Exception {
    String jlink = instructions().stream().filter(i -> i.keyword().equals("RUN"))
        .map(Instruction::arguments).filter(a -> a.startsWith("jlink ")).findFirst().orElseThrow();
    List<String> words = new ArrayList<>(Arrays.asList(jlink.split("\\s+")));
    int modules = words.indexOf("--add-modules");
    assertEquals(FACTS.commaList("java.modules"), List.of(words.get(modules + 1).split(",")));
    int output = words.indexOf("--output");
    String linked = words.get(output + 1);
    List<String> options = new ArrayList<>(words.subList(1, words.size()));
    options.removeAll(List.of("--add-modules", words.get(modules + 1), "--output", linked));
    assertEquals(FACTS.words("jlink.options"), options);
    assertTrue(all(finalStage(), "COPY").stream().anyMatch(c -> c.arguments().equals(
        "--from=build " + linked + " " + FACTS.get("java.home"))), "the linked runtime is java.home");
  }

  @Test
  void theDriverSitsWhereTheFactsPutIt() throws Exception {
    Set<String> copies = new TreeSet<>(all(finalStage(), "COPY").stream()
        .map(Instruction::arguments).toList());
    assertTrue(copies.contains("--from=build /src/target/lib " + FACTS.get("app.lib")), copies::toString);
    assertTrue(copies.contains("--from=build /src/target/pve-storage-csi.jar "
        + FACTS.get("app.jar")), copies::toString);
    assertTrue(copies.contains("src/main/jvm/jvm.options " + FACTS.get("app.jvmOptions")),
        copies::toString);
  }

  /** The same script records the archive in both builds, with the paths of the facts. */
  @Test
  void theClassDataSharingArchiveIsTrainedByTheSharedScript() throws Exception {
    String training = all(finalStage(), "RUN").stream().map(Instruction::arguments)
        .filter(a -> a.contains("train-cds")).findFirst().orElseThrow();
    assertEquals("--mount=type=bind,source=src/image/train-cds,target=/tmp/train-cds "
        + "sh /tmp/train-cds " + FACTS.get("app.jvmOptions") + " " + FACTS.get("app.jar") + " "
        + FACTS.get("app.cds"), training);
    String build = Files.readString(Path.of("src/image/build"));
    assertTrue(build.contains("/tmp/train-cds \"$APP_OPTIONS\" \"$APP_JAR\" \"$APP_CDS\""),
        "src/image/build runs the same script with the same three paths");
    assertTrue(FACTS.jsonArray("entrypoint").contains("-XX:SharedArchiveFile=" + FACTS.get("app.cds")),
        "the entrypoint maps the archive");
  }

  @Test
  void configurationMatchesTheFacts() throws Exception {
    List<Instruction> stage = finalStage();
    assertEquals(FACTS.jsonArray("entrypoint"), jsonArray(only(stage, "ENTRYPOINT")));
    assertEquals(FACTS.jsonArray("cmd"), jsonArray(only(stage, "CMD")));
    assertEquals(FACTS.get("user"), only(stage, "USER"));
    List<Instruction> workdirs = all(stage, "WORKDIR");
    assertEquals(FACTS.get("workdir"), workdirs.getLast().arguments());

    Map<String, String> env = new TreeMap<>();
    for (Instruction instruction : all(stage, "ENV")) {
      String[] kv = instruction.arguments().split("=", 2);
      env.put(kv[0], kv[1]);
    }
    assertEquals(FACTS.withPrefix("env."), env);

    Map<String, String> labels = new LinkedHashMap<>();
    Matcher label = Pattern.compile("([a-z.]+)=\"([^\"]*)\"").matcher(only(stage, "LABEL"));
    while (label.find()) {
      labels.put(label.group(1), label.group(2));
    }
    assertEquals("${VERSION}", labels.remove("org.opencontainers.image.version"),
        "the version comes from the build");
    assertEquals(FACTS.withPrefix("label."), new TreeMap<>(labels));
  }

  @Test
  void theBuildContextIsOnlyWhatTheBuildReads() throws Exception {
    List<String> ignore = Files.readAllLines(Path.of(".dockerignore")).stream()
        .filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
    assertEquals(List.of("*", "!pom.xml", "!csi-spec/", "!src/"), ignore);
    for (Instruction copy : all(instructions(), "COPY")) {
      String source = copy.arguments().split("\\s+")[0];
      if (!source.startsWith("--from")) {
        assertTrue(source.equals("pom.xml") || source.startsWith("csi-spec") || source.startsWith("src"),
            "COPY " + source + " is in the build context");
      }
    }
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
