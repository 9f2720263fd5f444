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
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * One file of src/test/resources/chart/sidecar-rbac/: the RBAC rules a sidecar publishes for the
 * version the chart pins (or the driver's own), and which of them the chart withholds and why.
 * Rules are compared as strings "Kind/serviceAccount apiGroup resource verb", where the
 * service account is the suffix of the chart's Role or ClusterRole name ({@code node}, {@code
 * controller}).
 *
 * @param sidecar the sidecar's name
 * @param image the image whose rules these are; empty for the driver's own rules
 * @param source the upstream file at the pinned tag, from the file's header comment
 * @param serviceAccount the chart's service account the sidecar runs under
 * @param rules the published rules
 */
record SidecarRbac(String sidecar, String image, String source, String serviceAccount,
    List<Rule> rules) {

  static final Path DIR = Path.of("src/test/resources/chart/sidecar-rbac");

  /**
   * One published rule.
   *
   * @param withheld verbs the chart does not grant
   * @param why why they are withheld, or why a rule of the driver's own exists
   * @param when a condition of the chart's values: {@code lease-lock} ({@code driver.lock: lease})
   */
  record Rule(String kind, String apiGroup, String resource, List<String> verbs,
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
  private static SidecarRbac read(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, Object> doc = Serialization.unmarshal(text, Map.class);
    String source = text.lines().map(String::trim).filter(l -> l.startsWith("#   https://"))
        .map(l -> l.substring(1).trim()).findFirst().orElse("");
    List<Rule> rules = new ArrayList<>();
    for (Map<String, Object> r : (List<Map<String, Object>>) doc.get("rules")) {
      List<String> withheld = (List<String>) r.getOrDefault("withheld", List.of());
      String why = (String) r.get("why");
      if (!withheld.isEmpty() && (why == null || why.isBlank())) {
        throw new IllegalStateException(file + ": withholding " + r + " needs a why");
      }
      rules.add(new Rule((String) r.get("kind"), (String) r.get("apiGroup"),
          (String) r.get("resource"), (List<String>) r.get("verbs"), withheld, why,
          (String) r.get("when")));
    }
    return new SidecarRbac((String) doc.get("sidecar"), Objects.toString(doc.get("image"), ""),
        source, (String) doc.get("serviceAccount"), List.copyOf(rules));
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
    for (Container c : containers) {
      images.add(c.getImage());
      if (c.getName().equals("driver") && c.getArgs().contains("--lock=lease")
          && c.getArgs().contains("--mode=node")) {
        leaseLock = true;
      }
    }
    Set<String> expected = new TreeSet<>();
    for (SidecarRbac file : files) {
      if (!file.image().isEmpty() && !images.contains(file.image())) {
        continue;
      }
      for (Rule rule : file.rules()) {
        if (rule.when() != null && !rule.when().equals("lease-lock")) {
          throw new IllegalStateException(file.sidecar() + ": unknown condition " + rule.when());
        }
        if (rule.when() != null && !leaseLock) {
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
