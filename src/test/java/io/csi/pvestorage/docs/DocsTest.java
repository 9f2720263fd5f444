package io.csi.pvestorage.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.csi.pvestorage.chart.RenderedChart;
import io.csi.pvestorage.csi.VolumeParameters;
import io.csi.pvestorage.error.StorageException;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documents an operator follows: the README stays a front page, every relative link leads to
 * a file and heading that exist, the walk-through's manifests match the chart and the driver, the
 * parameter table lists what the driver parses, and the install commands set values the chart
 * has.
 */
class DocsTest {

  private static final Path README = Path.of("README.md");
  private static final Path DOCS = Path.of("docs");
  private static final String DRIVER = "pve-storage.csi.io";
  private static final Pattern LINK = Pattern.compile("\\[[^\\]]*\\]\\(([^)\\s]+)\\)");
  private static final Pattern FENCE = Pattern.compile("(?ms)^```([a-z]*)\\n(.*?)^```");
  private static final Pattern HEADING = Pattern.compile("(?m)^#{1,6} (.+)$");

  @Test
  void theReadmeIsAFrontPageOfAtMost15KiB() throws IOException {
    long size = Files.size(README);
    assertTrue(size <= 15 * 1024, "README.md is " + size + " bytes; move details to docs/");
    String readme = Files.readString(README);
    for (String doc : List.of("install", "walkthrough", "parameters", "operations", "metrics",
        "design", "development", "data-safety", "image")) {
      assertTrue(readme.contains("(docs/" + doc + ".md)"), "README links docs/" + doc + ".md");
    }
  }

  @Test
  void everyRelativeLinkLeadsToAnExistingFileAndHeading() throws IOException {
    List<String> broken = new ArrayList<>();
    for (Path page : pages()) {
      String text = withoutCode(Files.readString(page));
      Matcher link = LINK.matcher(text);
      while (link.find()) {
        String target = link.group(1);
        if (target.matches("[a-z]+:.*")) {
          continue;
        }
        int hash = target.indexOf('#');
        String file = hash < 0 ? target : target.substring(0, hash);
        Path resolved = file.isEmpty() ? page : page.getParent() == null ? Path.of(file)
            : page.getParent().resolve(file);
        if (!Files.exists(resolved.normalize())) {
          broken.add(page + ": " + target + " (no such file)");
        } else if (hash >= 0 && resolved.toString().endsWith(".md")
            && !anchors(resolved.normalize()).contains(target.substring(hash + 1))) {
          broken.add(page + ": " + target + " (no such heading)");
        }
      }
    }
    assertEquals(List.of(), broken);
  }

  @Test
  void anchorsFollowGitHubsRules() {
    assertEquals("the-kill-policy", slug("The kill policy"));
    assertEquals("serve-flags", slug("`serve` flags"));
    assertEquals("3-the-cluster-snapshot-crds-and-the-snapshot-controller",
        slug("3. The cluster: snapshot CRDs and the snapshot-controller"));
    assertEquals("deletevolume-keeps-the-volumes-volumesnapshots",
        slug("DeleteVolume keeps the volume's VolumeSnapshots"));
  }

  @Test
  void theWalkthroughManifestsMatchTheChartAndTheDriver(@TempDir Path tmp) throws IOException {
    Path values = tmp.resolve("install.yaml");
    Files.writeString(values, "volumeSnapshotClass:\n  enabled: true\n");
    RenderedChart chart = RenderedChart.render(Path.of("."), "pve-storage-csi",
        "pve-storage-csi", List.of(values));
    Map<String, StorageClass> chartClasses = new HashMap<>();
    chart.all(StorageClass.class).forEach(c -> chartClasses.put(c.getMetadata().getName(), c));
    Set<String> chartSnapshotClasses = new HashSet<>();
    chart.objects().stream()
        .filter(o -> o.getKind().equals("VolumeSnapshotClass"))
        .forEach(o -> chartSnapshotClasses.add(o.getMetadata().getName()));

    List<JsonNode> manifests = manifests(DOCS.resolve("walkthrough.md"));
    Map<String, Set<String>> named = new LinkedHashMap<>();
    for (JsonNode m : manifests) {
      named.computeIfAbsent(m.path("kind").asText(), k -> new TreeSet<>())
          .add(m.path("metadata").path("name").asText());
    }
    assertEquals(Set.of("StorageClass", "VolumeSnapshotClass", "PersistentVolumeClaim", "Pod",
        "VolumeSnapshot"), named.keySet(), "the walk-through's kinds");

    for (JsonNode m : manifests) {
      String kind = m.path("kind").asText();
      String name = m.path("metadata").path("name").asText();
      assertFalse(name.isEmpty(), kind + " without a name");
      switch (kind) {
        case "StorageClass" -> {
          assertEquals("storage.k8s.io/v1", m.path("apiVersion").asText());
          assertEquals(DRIVER, m.path("provisioner").asText(), name);
          Map<String, String> parameters = strings(m.path("parameters"));
          try {
            VolumeParameters.parse(parameters);
          } catch (StorageException e) {
            throw new AssertionError("StorageClass " + name + ": " + e.getMessage(), e);
          }
          StorageClass rendered = chartClasses.get(name);
          if (rendered != null) {
            assertEquals(rendered.getProvisioner(), m.path("provisioner").asText());
            assertEquals(rendered.getParameters(), parameters, name + " parameters");
            assertEquals(rendered.getReclaimPolicy(), m.path("reclaimPolicy").asText(), name);
            assertEquals(rendered.getVolumeBindingMode(), m.path("volumeBindingMode").asText());
            assertEquals(rendered.getAllowVolumeExpansion(),
                m.path("allowVolumeExpansion").asBoolean());
          }
        }
        case "VolumeSnapshotClass" -> {
          assertEquals("snapshot.storage.k8s.io/v1", m.path("apiVersion").asText());
          assertEquals(DRIVER, m.path("driver").asText(), name);
          strings(m.path("parameters")).keySet().forEach(k -> assertTrue(
              k.startsWith(VolumeParameters.K8S_PREFIX), "snapshots take no parameter " + k));
          assertTrue(chartSnapshotClasses.contains(name),
              "VolumeSnapshotClass " + name + " is what the chart makes " + chartSnapshotClasses);
        }
        case "PersistentVolumeClaim" -> {
          String storageClass = m.path("spec").path("storageClassName").asText();
          assertTrue(chartClasses.containsKey(storageClass), "PVC " + name + " uses "
              + storageClass + ", which the chart installed by install.md does not make");
          JsonNode source = m.path("spec").path("dataSource");
          if (!source.isMissingNode()) {
            String sourceKind = source.path("kind").asText();
            assertTrue(named.getOrDefault(sourceKind, Set.of())
                .contains(source.path("name").asText()), "PVC " + name + " restores from a "
                + sourceKind + " the walk-through does not make");
            if (sourceKind.equals("VolumeSnapshot")) {
              assertEquals("snapshot.storage.k8s.io", source.path("apiGroup").asText());
            }
          }
        }
        case "VolumeSnapshot" -> {
          assertEquals("snapshot.storage.k8s.io/v1", m.path("apiVersion").asText());
          assertTrue(chartSnapshotClasses.contains(
              m.path("spec").path("volumeSnapshotClassName").asText()), name);
          assertTrue(named.get("PersistentVolumeClaim").contains(
              m.path("spec").path("source").path("persistentVolumeClaimName").asText()), name);
        }
        case "Pod" -> m.path("spec").path("volumes").forEach(v -> assertTrue(
            named.get("PersistentVolumeClaim").contains(
                v.path("persistentVolumeClaim").path("claimName").asText()),
            "Pod " + name + " mounts a claim the walk-through does not make"));
        default -> throw new AssertionError("unexpected kind " + kind);
      }
    }
  }

  @Test
  void theParameterTableListsExactlyWhatTheDriverParses() throws IOException {
    String text = Files.readString(DOCS.resolve("parameters.md"));
    String section = text.substring(text.indexOf("## StorageClass parameters"),
        text.indexOf("## VolumeSnapshotClass parameters"));
    Set<String> listed = new TreeSet<>();
    Matcher row = Pattern.compile("(?m)^\\| `([A-Za-z]+)` \\|").matcher(section);
    while (row.find()) {
      listed.add(row.group(1));
    }
    assertEquals(new TreeSet<>(VolumeParameters.KEYS), listed);
  }

  @Test
  void theInstallCommandsSetValuesTheChartHasAndNameFilesThatExist() throws IOException {
    List<String> problems = new ArrayList<>();
    int commands = 0;
    for (Path page : List.of(README, DOCS.resolve("install.md"), DOCS.resolve("operations.md"))) {
      for (String command : shellCommands(Files.readString(page))) {
        if (!command.startsWith("helm ")) {
          continue;
        }
        commands++;
        problems.addAll(helmCommandProblems(page.toString(), command));
      }
    }
    for (Path page : pages()) {
      problems.addAll(setProblems(page.toString(), Files.readString(page)));
    }
    assertTrue(commands >= 4, "found only " + commands + " helm commands");
    assertEquals(List.of(), problems);
  }

  /** The checks of the commands catch a value the chart lacks, a flag Helm lacks, a missing file. */
  @Test
  void aSetOfAValueTheChartLacksOrAFlagHelmLacksIsCaught() throws IOException {
    String page = """
        Raise it with `--set driver.logLevel=debug`, or `--set drivr.logLevel=debug`.
        ```sh
        helm install x charts/pve-storage-csi -n x --set-string image.tag=1,image.tagg=2 \\
          --set 'storageClasses[0].fsType=xfs' --set storageClasses[0].fstype=xfs --reuse-value \\
          -f charts/pve-storage-csi/examples/no-such.yaml
        ```
        """;
    List<String> problems = new ArrayList<>(setProblems("example.md", page));
    shellCommands(page).forEach(c -> problems.addAll(helmCommandProblems("example.md", c)));
    assertEquals(List.of(
        "example.md: --set drivr.logLevel is no value of the chart",
        "example.md: --set image.tagg is no value of the chart",
        "example.md: --set storageClasses[0].fstype is no value of the chart",
        "example.md: helm install has no flag --reuse-value (Helm " + HELM + ")",
        "example.md: charts/pve-storage-csi/examples/no-such.yaml does not exist"), problems);
  }

  /**
   * Every YAML block an operator may copy parses; a Kubernetes object in one is one fabric8
   * accepts, with the current apiVersion of its kind; a block without a kind is a values file,
   * which the chart must render with (the schema refuses unknown keys and wrong types).
   */
  @Test
  void everyYamlBlockParsesAndUsesCurrentApis() throws IOException {
    List<String> problems = new ArrayList<>();
    int blocks = 0;
    for (Path page : pages()) {
      String text = Files.readString(page);
      blocks += yamlBlocks(text).size();
      problems.addAll(yamlProblems(page.toString(), text));
    }
    assertTrue(blocks >= 6, "found only " + blocks + " YAML blocks");
    assertEquals(List.of(), problems);
  }

  @Test
  void aYamlBlockThatDoesNotParseUsesAnOldApiOrAnUnknownValueIsCaught() {
    String page = """
        ```yaml
        apiVersion: snapshot.storage.k8s.io/v1beta1
        kind: VolumeSnapshotClass
        metadata:
          name: old
        driver: pve-storage.csi.io
        deletionPolicy: Delete
        ```
        ```yaml
        metadata: [unclosed
        ```
        ```yaml
        driverr:
          logLevel: debug
        ```
        ```yaml
        driver:
          logLevel: debug
        ```
        """;
    List<String> problems = yamlProblems("example.md", page);
    assertEquals(3, problems.size(), String.join("\n", problems));
    assertTrue(problems.get(0).contains("VolumeSnapshotClass old: apiVersion "
        + "snapshot.storage.k8s.io/v1beta1, not the current snapshot.storage.k8s.io/v1"),
        problems.get(0));
    assertTrue(problems.get(1).startsWith("example.md: YAML block 2 does not parse"),
        problems.get(1));
    assertTrue(problems.get(2).startsWith("example.md: YAML block 3 is no values file the chart "
        + "accepts") && problems.get(2).contains("driverr"), problems.get(2));
  }

  /** The Helm version the documents name, and the flags its commands used there have. */
  private static final String HELM = "3.14";

  /**
   * Flags of Helm 3.14's subcommands that the documents may use ({@code helm <cmd> --help} of
   * Helm 3.14; ChartTest runs Helm 3.21's library, which has them all). Not the whole list: a
   * flag not here is either wrong or needs adding after checking its help.
   */
  private static final Map<String, Set<String>> HELM_FLAGS = Map.of(
      "install", Set.of("-n", "--namespace", "--create-namespace", "-f", "--values", "--set",
          "--set-string", "--set-file", "--set-json", "--version", "--wait", "--timeout",
          "--atomic", "--dry-run", "--debug", "--kube-version"),
      "upgrade", Set.of("-n", "--namespace", "-i", "--install", "-f", "--values", "--set",
          "--set-string", "--set-file", "--set-json", "--reuse-values", "--reset-values",
          "--reset-then-reuse-values", "--version", "--wait", "--timeout", "--atomic",
          "--dry-run"),
      "uninstall", Set.of("-n", "--namespace", "--keep-history", "--wait", "--timeout"),
      "status", Set.of("-n", "--namespace", "-o", "--output", "--show-resources"),
      "template", Set.of("-n", "--namespace", "-f", "--values", "--set", "--set-string",
          "--kube-version", "--api-versions"),
      "lint", Set.of("--strict", "-f", "--values", "--set"));

  private static List<String> helmCommandProblems(String page, String command) {
    List<String> problems = new ArrayList<>();
    List<String> words = List.of(command.split("\\s+"));
    Set<String> flags = HELM_FLAGS.get(words.get(1));
    if (flags == null) {
      problems.add(page + ": helm " + words.get(1) + " is no subcommand the documents may use");
      return problems;
    }
    for (String word : words) {
      String flag = word.replaceFirst("=.*", "");
      if (flag.startsWith("-") && !flags.contains(flag)) {
        problems.add(page + ": helm " + words.get(1) + " has no flag " + flag + " (Helm " + HELM
            + ")");
      }
    }
    Matcher chartPath = Pattern.compile("(charts/[\\w./-]+)").matcher(command);
    while (chartPath.find()) {
      if (!Files.exists(Path.of(chartPath.group(1)))) {
        problems.add(page + ": " + chartPath.group(1) + " does not exist");
      }
    }
    return problems;
  }

  private static final Pattern SET =
      Pattern.compile("--set(?:-string|-file|-json)?[ =](?:'([^']*)'|\"([^\"]*)\"|([^\\s`]+))");

  /** Every {@code --set key=value[,key=value]} of a page, in code or prose, names a chart value. */
  private static List<String> setProblems(String page, String text) throws IOException {
    JsonNode values = new YAMLMapper().readTree(RenderedChart.CHART.resolve("values.yaml")
        .toFile());
    JsonNode schema = new ObjectMapper().readTree(RenderedChart.CHART
        .resolve("values.schema.json").toFile());
    List<String> problems = new ArrayList<>();
    Matcher set = SET.matcher(text.replace("\\\n", " "));
    while (set.find()) {
      String pairs = set.group(1) != null ? set.group(1)
          : set.group(2) != null ? set.group(2) : set.group(3);
      for (String pair : pairs.split(",(?=[A-Za-z][\\w.\\[\\]]*=)")) {
        String key = pair.replaceFirst("=.*", "");
        if (at(values, key).isMissingNode() && at(schema, key).isMissingNode()) {
          problems.add(page + ": --set " + key + " is no value of the chart");
        }
      }
    }
    return problems;
  }

  /**
   * The values.yaml node of a dotted key such as {@code storageClasses[0].fsType}, or in the
   * schema under {@code properties} (and {@code items} for an index).
   */
  private static JsonNode at(JsonNode root, String key) {
    JsonNode node = root;
    boolean schema = root.has("$schema");
    for (String part : key.split("\\.")) {
      Matcher indexed = Pattern.compile("([A-Za-z][\\w-]*)((?:\\[\\d+\\])*)").matcher(part);
      if (!indexed.matches()) {
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
      }
      node = schema ? node.path("properties").path(indexed.group(1))
          : node.path(indexed.group(1));
      Matcher index = Pattern.compile("\\[(\\d+)\\]").matcher(indexed.group(2));
      while (index.find()) {
        // A list in values.yaml may be shorter than the index an operator sets: its first
        // element shows the keys an element has.
        node = schema ? node.path("items") : node.path(0);
      }
    }
    return node;
  }

  /** Shell commands of the {@code sh} blocks, continuation lines joined, comments dropped. */
  private static List<String> shellCommands(String markdown) {
    List<String> commands = new ArrayList<>();
    Matcher fence = FENCE.matcher(markdown);
    while (fence.find()) {
      if (!fence.group(1).equals("sh")) {
        continue;
      }
      String joined = fence.group(2).replace("\\\n", " ");
      for (String line : joined.split("\n")) {
        String command = line.replaceAll("\\s+#.*$", "").strip();
        if (!command.isEmpty() && !command.startsWith("#")) {
          commands.add(command);
        }
      }
    }
    return commands;
  }

  /** The {@code yaml} blocks of a markdown text. */
  private static List<String> yamlBlocks(String markdown) {
    List<String> blocks = new ArrayList<>();
    Matcher fence = FENCE.matcher(markdown);
    while (fence.find()) {
      if (fence.group(1).equals("yaml")) {
        blocks.add(fence.group(2));
      }
    }
    return blocks;
  }

  /** The current apiVersion of each kind the documents may show. */
  private static final Map<String, String> CURRENT_API = Map.ofEntries(
      Map.entry("StorageClass", "storage.k8s.io/v1"), Map.entry("CSIDriver", "storage.k8s.io/v1"),
      Map.entry("CSINode", "storage.k8s.io/v1"),
      Map.entry("CSIStorageCapacity", "storage.k8s.io/v1"),
      Map.entry("VolumeAttributesClass", "storage.k8s.io/v1"),
      Map.entry("VolumeSnapshot", "snapshot.storage.k8s.io/v1"),
      Map.entry("VolumeSnapshotClass", "snapshot.storage.k8s.io/v1"),
      Map.entry("VolumeSnapshotContent", "snapshot.storage.k8s.io/v1"),
      Map.entry("PersistentVolumeClaim", "v1"), Map.entry("PersistentVolume", "v1"),
      Map.entry("Pod", "v1"), Map.entry("Namespace", "v1"), Map.entry("Secret", "v1"),
      Map.entry("Deployment", "apps/v1"), Map.entry("DaemonSet", "apps/v1"),
      Map.entry("Lease", "coordination.k8s.io/v1"), Map.entry("ServiceAccount", "v1"),
      Map.entry("Role", "rbac.authorization.k8s.io/v1"),
      Map.entry("RoleBinding", "rbac.authorization.k8s.io/v1"),
      Map.entry("ClusterRole", "rbac.authorization.k8s.io/v1"),
      Map.entry("ClusterRoleBinding", "rbac.authorization.k8s.io/v1"));

  /**
   * What is wrong with the YAML blocks of a page: a block that does not parse, a Kubernetes
   * object fabric8 refuses or of another apiVersion than its kind's current one, and a block
   * without a kind (a values file) the chart does not render with.
   */
  private static List<String> yamlProblems(String page, String markdown) {
    List<String> problems = new ArrayList<>();
    YAMLMapper yaml = new YAMLMapper();
    int n = 0;
    for (String block : yamlBlocks(markdown)) {
      n++;
      for (String doc : block.split("(?m)^---\\s*$")) {
        JsonNode node;
        try {
          node = yaml.readTree(doc);
        } catch (IOException e) {
          problems.add(page + ": YAML block " + n + " does not parse: " + e.getMessage());
          continue;
        }
        if (node == null || node.isMissingNode()) {
          continue;
        }
        if (!node.has("kind")) {
          problems.addAll(valuesProblems(page, n, doc));
          continue;
        }
        String kind = node.path("kind").asText();
        String name = kind + " " + node.path("metadata").path("name").asText();
        String current = CURRENT_API.get(kind);
        if (current == null) {
          problems.add(page + ": YAML block " + n + ": " + name
              + ": no current apiVersion known for this kind (add it to CURRENT_API)");
        } else if (!current.equals(node.path("apiVersion").asText())) {
          problems.add(page + ": YAML block " + n + ": " + name + ": apiVersion "
              + node.path("apiVersion").asText() + ", not the current " + current);
        }
        try {
          io.fabric8.kubernetes.client.utils.Serialization.unmarshal(doc);
        } catch (RuntimeException e) {
          problems.add(page + ": YAML block " + n + ": " + name + " is refused: "
              + e.getMessage());
        }
      }
    }
    return problems;
  }

  private static List<String> valuesProblems(String page, int block, String doc) {
    try {
      Path values = Files.createTempFile("docs-values", ".yaml");
      try {
        Files.writeString(values, doc);
        RenderedChart.render(Path.of("."), "docs", "docs", List.of(values));
        return List.of();
      } finally {
        Files.delete(values);
      }
    } catch (IOException | RuntimeException e) {
      return List.of(page + ": YAML block " + block + " is no values file the chart accepts: "
          + e.getMessage());
    }
  }

  private static List<JsonNode> manifests(Path page) throws IOException {
    YAMLMapper yaml = new YAMLMapper();
    List<JsonNode> out = new ArrayList<>();
    Matcher fence = FENCE.matcher(Files.readString(page));
    while (fence.find()) {
      if (!fence.group(1).equals("yaml")) {
        continue;
      }
      for (String doc : fence.group(2).split("(?m)^---\\s*$")) {
        JsonNode node = yaml.readTree(doc);
        assertTrue(node != null && node.has("kind") && node.has("apiVersion"),
            page + ": a YAML block that is no Kubernetes object:\n" + doc);
        // Each manifest must also be an object fabric8 accepts, as kubectl would.
        HasMetadata parsed = io.fabric8.kubernetes.client.utils.Serialization.unmarshal(doc);
        assertEquals(node.get("kind").asText(), parsed.getKind());
        out.add(node);
      }
    }
    assertFalse(out.isEmpty(), page + " has no YAML blocks");
    return out;
  }

  private static Map<String, String> strings(JsonNode map) {
    Map<String, String> out = new LinkedHashMap<>();
    map.fields().forEachRemaining(e -> {
      assertTrue(e.getValue().isTextual(), "parameter " + e.getKey()
          + " must be a string in YAML (quote it)");
      out.put(e.getKey(), e.getValue().asText());
    });
    return out;
  }

  private static List<Path> pages() throws IOException {
    List<Path> pages = new ArrayList<>(List.of(README,
        RenderedChart.CHART.resolve("README.md")));
    for (Path dir : List.of(DOCS, Path.of("src/site/markdown"))) {
      try (Stream<Path> files = Files.list(dir)) {
        files.filter(f -> f.toString().endsWith(".md")).sorted().forEach(pages::add);
      }
    }
    return pages;
  }

  private static String withoutCode(String markdown) {
    return FENCE.matcher(markdown).replaceAll("").replaceAll("`[^`\\n]*`", "");
  }

  /** The anchors GitHub makes for the headings of a page (duplicates get -1, -2, ...). */
  private static Set<String> anchors(Path page) throws IOException {
    Set<String> anchors = new HashSet<>();
    Map<String, Integer> seen = new HashMap<>();
    Matcher heading = HEADING.matcher(FENCE.matcher(Files.readString(page)).replaceAll(""));
    while (heading.find()) {
      String slug = slug(heading.group(1));
      int n = seen.merge(slug, 1, Integer::sum) - 1;
      anchors.add(n == 0 ? slug : slug + "-" + n);
    }
    return anchors;
  }

  private static String slug(String heading) {
    return heading.strip().toLowerCase(Locale.ROOT)
        .replaceAll("[^\\p{L}\\p{N} _-]", "")
        .replace(' ', '-');
  }
}
