package io.csi.pvestorage.chart;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * One file of src/test/resources/chart/sidecar-rbac/: the RBAC rules a sidecar needs at the
 * version the chart pins (or the driver's own), where each rule comes from, and which of them the
 * chart withholds and why. Rules are compared as strings "Kind/serviceAccount apiGroup resource
 * verb", where the service account is the suffix of the chart's Role or ClusterRole name ({@code
 * node}, {@code controller}).
 *
 * <p>A file names what was read in {@code sources} (repository, path, commit where known, and
 * version), the source that is the sidecar's published RBAC file in {@code published}, and, when
 * that file is not the one of the pinned tag, the release notes read up to the pinned tag in
 * {@code notes.read} (a version whose notes could not be found goes into {@code notes.missing}
 * with why). Reading a file checks all of that, so a rule without a source or a pinned tag
 * nobody read about fails the build.
 *
 * @param sidecar the sidecar's name
 * @param image the image whose rules these are; empty for the driver's own rules
 * @param serviceAccount the chart's service account the sidecar runs under
 * @param sources what was read, by key
 * @param published the key of the source that is the sidecar's published RBAC file; empty for the
 *     driver's own rules
 * @param notesRead versions whose release notes were read
 * @param notesMissing versions whose release notes were not found, with why
 * @param rules the rules
 */
record SidecarRbac(String sidecar, String image, String serviceAccount, Map<String, Source> sources,
    String published, List<String> notesRead, Map<String, String> notesMissing,
    List<Rule> rules) {

  static final Path DIR = Path.of("src/test/resources/chart/sidecar-rbac");

  /**
   * One thing read.
   *
   * @param repo the repository ({@code owner/name}, or "this project")
   * @param path the file in it
   * @param commit the commit read, 40 hex digits; empty where the index did not show it
   * @param version the tag (or version) the file is of
   */
  record Source(String repo, String path, String commit, String version) {}

  /**
   * One rule.
   *
   * @param from the keys of the sources the rule comes from
   * @param withheld verbs the chart does not grant
   * @param why why they are withheld, or why a rule differs from the published file
   * @param when a condition of the chart's values: {@code lease-lock} ({@code driver.lock: lease})
   *     or {@code orphan-check} (the driver runs with a non-zero {@code --orphan-check-interval})
   */
  record Rule(String kind, String apiGroup, String resource, List<String> verbs, List<String> from,
      List<String> withheld, String why, String when) {}

  /** Every data file. */
  static List<SidecarRbac> load() {
    try (Stream<Path> files = Files.list(DIR)) {
      return files.filter(f -> f.toString().endsWith(".yaml")).sorted().map(SidecarRbac::read)
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @SuppressWarnings("unchecked")
  static SidecarRbac read(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return parse(file.toString(), text);
  }

  /** Reads one data file's text and checks that every rule says where it came from. */
  @SuppressWarnings("unchecked")
  static SidecarRbac parse(String name, String text) {
    Map<String, Object> doc = Serialization.unmarshal(text, Map.class);
    Map<String, Source> sources = new LinkedHashMap<>();
    var rawSources = (Map<String, Map<String, Object>>) doc.getOrDefault("sources", Map.of());
    for (var e : rawSources.entrySet()) {
      Map<String, Object> s = e.getValue();
      Source source = new Source(string(s.get("repo")), string(s.get("path")),
          string(s.get("commit")), string(s.get("version")));
      if (source.repo().isBlank() || source.path().isBlank() || source.version().isBlank()) {
        throw new IllegalStateException(name + ": source " + e.getKey()
            + " needs repo, path and version");
      }
      if (!source.commit().isEmpty() && !source.commit().matches("[0-9a-f]{40}")) {
        throw new IllegalStateException(name + ": source " + e.getKey()
            + " commit must be 40 hex digits: " + source.commit());
      }
      sources.put(e.getKey(), source);
    }
    List<Rule> rules = new ArrayList<>();
    for (Map<String, Object> r : (List<Map<String, Object>>) doc.get("rules")) {
      List<String> withheld = (List<String>) r.getOrDefault("withheld", List.of());
      List<String> from = (List<String>) r.getOrDefault("from", List.of());
      String why = (String) r.get("why");
      if (!withheld.isEmpty() && (why == null || why.isBlank())) {
        throw new IllegalStateException(name + ": withholding " + r + " needs a why");
      }
      if (from.isEmpty() || !sources.keySet().containsAll(from)) {
        throw new IllegalStateException(name + ": rule " + r
            + " must name where it comes from (keys of sources: " + sources.keySet() + ")");
      }
      rules.add(new Rule((String) r.get("kind"), (String) r.get("apiGroup"),
          (String) r.get("resource"), (List<String>) r.get("verbs"), from, withheld, why,
          (String) r.get("when")));
    }
    Map<String, Object> notes = (Map<String, Object>) doc.getOrDefault("notes", Map.of());
    SidecarRbac file = new SidecarRbac((String) doc.get("sidecar"),
        Objects.toString(doc.get("image"), ""), (String) doc.get("serviceAccount"),
        Map.copyOf(sources), Objects.toString(doc.get("published"), ""),
        List.copyOf((List<String>) notes.getOrDefault("read", List.of())),
        Map.copyOf((Map<String, String>) notes.getOrDefault("missing", Map.of())),
        List.copyOf(rules));
    file.checkCoversThePinnedTag(name);
    return file;
  }

  /** The tag of the pinned image, e.g. {@code v6.3.0}; empty for the driver's own rules. */
  String pinnedTag() {
    return image.isEmpty() ? "" : image.substring(image.lastIndexOf(':') + 1);
  }

  /**
   * A sidecar's file names its published RBAC file, and either that file is the one of the
   * pinned tag or the release notes up to the pinned tag were read (or their absence explained).
   */
  private void checkCoversThePinnedTag(String name) {
    if (image.isEmpty()) {
      return;
    }
    Source rbac = sources.get(published);
    if (rbac == null) {
      throw new IllegalStateException(name + ": `published` must name the source that is "
          + sidecar + "'s published RBAC file");
    }
    String tag = pinnedTag();
    if (rbac.version().equals(tag)) {
      return;
    }
    if (!notesRead.contains(tag) && !notesMissing.containsKey(tag)) {
      throw new IllegalStateException(name + ": the published file read is of " + rbac.version()
          + " but the chart pins " + tag + "; read the release notes up to " + tag
          + " and list them in notes.read (or say in notes.missing why they cannot be read)");
    }
    notesMissing.forEach((version, why) -> {
      if (why == null || why.isBlank()) {
        throw new IllegalStateException(name + ": notes.missing " + version + " needs a why");
      }
    });
  }

  private static String string(Object value) {
    return value == null ? "" : value.toString();
  }

  /**
   * How the rendered chart's rules differ from the data: one line per verb granted beyond it and
   * per verb of it not granted; empty when they match.
   */
  static List<String> drift(List<SidecarRbac> files, List<HasMetadata> objects) {
    Set<String> granted = granted(objects);
    Set<String> expected = expected(files, objects);
    List<String> drift = new ArrayList<>();
    granted.stream().filter(r -> !expected.contains(r))
        .forEach(r -> drift.add("granted but not in the data: " + r));
    expected.stream().filter(r -> !granted.contains(r))
        .forEach(r -> drift.add("in the data but not granted: " + r));
    return drift;
  }

  /** What the rendered chart grants, in the comparison form. */
  static Set<String> granted(List<HasMetadata> objects) {
    Set<String> granted = new TreeSet<>();
    for (HasMetadata o : objects) {
      List<PolicyRule> rules = o instanceof ClusterRole cr ? cr.getRules()
          : o instanceof Role r ? r.getRules() : null;
      if (rules == null) {
        continue;
      }
      String name = o.getMetadata().getName();
      String account = name.substring(name.lastIndexOf('-') + 1);
      for (PolicyRule rule : rules) {
        if (rule.getResourceNames() != null && !rule.getResourceNames().isEmpty()
            || rule.getNonResourceURLs() != null && !rule.getNonResourceURLs().isEmpty()) {
          throw new AssertionError(name + " has a rule the comparison cannot express: " + rule);
        }
        for (String group : rule.getApiGroups()) {
          for (String resource : rule.getResources()) {
            for (String verb : rule.getVerbs()) {
              granted.add(o.getKind() + "/" + account + " " + group + " " + resource + " " + verb);
            }
          }
        }
      }
    }
    return granted;
  }

  /**
   * What the chart should grant for these rendered objects: the rules of every data file whose
   * image runs in a rendered pod (the driver's own always), less what each withholds, with
   * conditional rules only where their condition holds.
   */
  static Set<String> expected(List<SidecarRbac> files, List<HasMetadata> objects) {
    List<Container> containers = new ArrayList<>();
    objects.stream().filter(DaemonSet.class::isInstance).map(DaemonSet.class::cast)
        .forEach(d -> containers.addAll(d.getSpec().getTemplate().getSpec().getContainers()));
    objects.stream().filter(Deployment.class::isInstance).map(Deployment.class::cast)
        .forEach(d -> containers.addAll(d.getSpec().getTemplate().getSpec().getContainers()));
    Set<String> images = new TreeSet<>();
    boolean leaseLock = false;
    boolean orphanCheck = false;
    for (Container c : containers) {
      images.add(c.getImage());
      if (c.getName().equals("driver") && c.getArgs().contains("--lock=lease")
          && c.getArgs().contains("--mode=node")) {
        leaseLock = true;
      }
      if (c.getName().equals("driver") && c.getArgs().contains("--mode=node")
          && c.getArgs().stream().anyMatch(a -> a.startsWith("--orphan-check-interval=")
              && !a.matches("--orphan-check-interval=0+(ms|s|m|h)?"))) {
        orphanCheck = true;
      }
    }
    Set<String> expected = new TreeSet<>();
    for (SidecarRbac file : files) {
      if (!file.image().isEmpty() && !images.contains(file.image())) {
        continue;
      }
      for (Rule rule : file.rules()) {
        if (rule.when() != null && !List.of("lease-lock", "orphan-check").contains(rule.when())) {
          throw new IllegalStateException(file.sidecar() + ": unknown condition " + rule.when());
        }
        if ("lease-lock".equals(rule.when()) && !leaseLock
            || "orphan-check".equals(rule.when()) && !orphanCheck) {
          continue;
        }
        for (String verb : rule.verbs()) {
          if (!rule.withheld().contains(verb)) {
            expected.add(rule.kind() + "/" + file.serviceAccount() + " " + rule.apiGroup() + " "
                + rule.resource() + " " + verb);
          }
        }
      }
    }
    return expected;
  }
}
