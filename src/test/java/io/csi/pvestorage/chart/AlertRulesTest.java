package io.csi.pvestorage.chart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.marcnuri.helm.Helm;
import io.csi.pvestorage.metrics.ExportedMetrics;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The example alert rules the chart ships, checked as promtool would check their syntax where
 * it can be done without promtool (it is not installable here): the rule file's structure, and
 * every metric an expression names is one the driver really exports, so a renamed meter breaks
 * this test rather than silently never firing.
 */
class AlertRulesTest {

  static final Path RULES = RenderedChart.CHART.resolve("alerts/pve-storage-csi.rules.yaml");

  private static final Pattern IDENTIFIER = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern DURATION = Pattern.compile("^[0-9]+(ms|s|m|h|d|w|y)$");
  private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring",
      "group_left", "group_right", "and", "or", "unless", "bool", "offset");
  /** The PromQL functions and aggregations the rules may use. */
  private static final Set<String> FUNCTIONS = Set.of("sum", "max", "min", "avg", "count",
      "rate", "increase", "irate", "histogram_quantile", "absent", "max_over_time",
      "min_over_time", "avg_over_time", "clamp_min", "time", "changes", "deriv");

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> rules() throws Exception {
    Map<String, Object> file = Serialization.unmarshal(Files.readString(RULES), Map.class);
    assertEquals(Set.of("groups"), file.keySet(), "a rule file has groups only");
    List<Map<String, Object>> rules = new ArrayList<>();
    for (Map<String, Object> group : (List<Map<String, Object>>) file.get("groups")) {
      assertTrue(group.get("name") instanceof String s && !s.isBlank(), group::toString);
      rules.addAll((List<Map<String, Object>>) group.get("rules"));
    }
    return rules;
  }

  @Test
  @SuppressWarnings("unchecked")
  void everyRuleIsAWellFormedAlert() throws Exception {
    Set<String> names = new TreeSet<>();
    for (Map<String, Object> rule : rules()) {
      assertTrue(Set.of("alert", "expr", "for", "labels", "annotations").containsAll(rule.keySet()),
          "unknown rule field: " + rule.keySet());
      String alert = (String) rule.get("alert");
      assertTrue(alert.matches("PveCsi[A-Z][A-Za-z]+"), alert);
      assertTrue(names.add(alert), "duplicate alert " + alert);
      assertTrue(DURATION.matcher(String.valueOf(rule.get("for"))).matches(), alert + " for");
      Map<String, Object> labels = (Map<String, Object>) rule.get("labels");
      assertTrue(Set.of("warning", "critical").contains(labels.get("severity")), alert);
      Map<String, Object> annotations = (Map<String, Object>) rule.get("annotations");
      assertTrue(annotations.keySet().containsAll(Set.of("summary", "description")), alert);
      String expr = (String) rule.get("expr");
      assertBalanced(alert, expr);
      for (String range : between(expr, '[', ']')) {
        assertTrue(DURATION.matcher(range).matches(), alert + ": range " + range);
      }
      for (Object text : annotations.values()) {
        assertBalanced(alert, ((String) text).replace("{{", "(").replace("}}", ")"));
      }
    }
    // What issue 15 asks the examples to cover.
    assertTrue(names.containsAll(Set.of("PveCsiPoolNearlyFull", "PveCsiLockWaitHigh",
        "PveCsiStorageCommandsFailing", "PveCsiDriverNotReady", "PveCsiStorageCommandStalled")),
        names::toString);
  }

  /** Every metric an expression reads is in a scrape of the driver's real meters. */
  @Test
  void everyExpressionNamesOnlyMetricsTheDriverExports() throws Exception {
    Set<String> exported = ExportedMetrics.sampleNames(ExportedMetrics.scrape());
    Set<String> used = new TreeSet<>();
    for (Map<String, Object> rule : rules()) {
      String expr = (String) rule.get("expr");
      Set<String> metrics = metricNames(expr);
      assertFalse(metrics.isEmpty(), rule.get("alert") + " reads no metric");
      for (String metric : metrics) {
        assertTrue(exported.contains(metric), rule.get("alert") + " reads " + metric
            + ", which the driver does not export; it has " + exported);
      }
      used.addAll(metrics);
    }
    assertTrue(used.containsAll(Set.of("pve_csi_pool_used_bytes", "pve_csi_lock_wait_seconds_bucket",
        "pve_csi_storage_command_failures_total", "pve_csi_ready",
        "pve_csi_storage_command_stalled")), used::toString);
  }

  /** The parser finds metrics and skips labels, functions, keywords, numbers and strings. */
  @Test
  void theMetricNameParserSkipsEverythingElse() {
    assertEquals(Set.of("a_total", "b_bucket"), metricNames(
        "sum by (node, le) (rate(a_total{x=\"y\", verb=~\"lv.*\"}[5m])) / on (node) "
            + "histogram_quantile(0.9, b_bucket) > 1e3 and bool 2"));
  }

  /** The PrometheusRule template carries the rule file unchanged, and only when asked. */
  @Test
  void thePrometheusRuleTemplateRendersTheRuleFile() throws Exception {
    var template = new Helm(RenderedChart.CHART).template().withName("pve").withNamespace("storage")
        .withKubeVersion("1.34.0").set("metrics.prometheusRule.enabled", "true")
        .set("metrics.prometheusRule.labels.release", "kube-prometheus");
    List<HasMetadata> objects = RenderedChart.parse(template.call());
    GenericKubernetesResource rule = objects.stream()
        .filter(o -> o.getKind().equals("PrometheusRule")).map(GenericKubernetesResource.class::cast)
        .findFirst().orElseThrow();
    assertEquals("kube-prometheus", rule.getMetadata().getLabels().get("release"));
    Map<?, ?> file = Serialization.unmarshal(Files.readString(RULES), Map.class);
    assertEquals(file.get("groups"), rule.getAdditionalProperties().get("spec") instanceof Map<?, ?> spec
        ? spec.get("groups") : null);
    assertTrue(RenderedChart.render(Path.of("."), "pve", "storage", List.of()).objects().stream()
        .noneMatch(o -> o.getKind().equals("PrometheusRule")), "off by default");
  }

  static Set<String> metricNames(String expr) {
    // Strings, label matchers, ranges and grouping lists hold no metric names.
    String rest = expr.replaceAll("\"(\\\\.|[^\"])*\"", "\"\"").replaceAll("\\{[^}]*}", " ")
        .replaceAll("\\[[^]]*]", " ")
        .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ");
    Set<String> names = new TreeSet<>();
    Matcher m = IDENTIFIER.matcher(rest);
    while (m.find()) {
      String word = m.group();
      int next = m.end();
      while (next < rest.length() && rest.charAt(next) == ' ') {
        next++;
      }
      boolean call = next < rest.length() && rest.charAt(next) == '(';
      boolean number = m.start() > 0 && Character.isDigit(rest.charAt(m.start() - 1));
      if (call) {
        assertTrue(FUNCTIONS.contains(word), "unknown function " + word + " in " + expr);
      } else if (!KEYWORDS.contains(word) && !number) {
        names.add(word);
      }
    }
    return names;
  }

  private static void assertBalanced(String alert, String text) {
    int depth = 0;
    for (char c : text.toCharArray()) {
      depth += c == '(' || c == '[' || c == '{' ? 1 : c == ')' || c == ']' || c == '}' ? -1 : 0;
      assertTrue(depth >= 0, alert + ": unbalanced " + text);
    }
    assertEquals(0, depth, alert + ": unbalanced " + text);
  }

  private static List<String> between(String text, char open, char close) {
    List<String> found = new ArrayList<>();
    for (int i = text.indexOf(open); i >= 0; i = text.indexOf(open, i + 1)) {
      found.add(text.substring(i + 1, text.indexOf(close, i)));
    }
    return found;
  }
}
