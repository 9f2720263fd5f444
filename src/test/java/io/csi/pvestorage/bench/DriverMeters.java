package io.csi.pvestorage.bench;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The driver's {@code /metrics} text as the benchmarks read it: samples by name and labels, the
 * difference of two readings, and the storage commands in such a difference by verb (from
 * {@code pve_csi_storage_command_duration_seconds}).
 */
final class DriverMeters {
  private static final Pattern VERB = Pattern.compile("verb=\"([^\"]*)\"");
  private static final String COUNT = "pve_csi_storage_command_duration_seconds_count{";
  private static final String SUM = "pve_csi_storage_command_duration_seconds_sum{";

  private DriverMeters() {}

  /** Sample (name and labels) to value. */
  static Map<String, Double> parse(String text) {
    Map<String, Double> samples = new HashMap<>();
    for (String line : text.split("\n")) {
      int space = line.lastIndexOf(' ');
      if (!line.startsWith("#") && space > 0) {
        samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
      }
    }
    return samples;
  }

  /** What changed from {@code before} to {@code after}; unchanged samples are left out. */
  static Map<String, Double> delta(Map<String, Double> before, Map<String, Double> after) {
    Map<String, Double> delta = new TreeMap<>();
    after.forEach((key, value) -> {
      double d = value - before.getOrDefault(key, 0.0);
      if (d != 0) {
        delta.put(key, d);
      }
    });
    return delta;
  }

  static String verb(String sample) {
    Matcher m = VERB.matcher(sample);
    return m.find() ? m.group(1) : "?";
  }

  /** Commands in {@code delta} by verb, of the verbs {@code verbs} accepts. */
  static Map<String, Double> commandsByVerb(Map<String, Double> delta, Predicate<String> verbs) {
    Map<String, Double> byVerb = new TreeMap<>();
    delta.forEach((key, value) -> {
      if (key.startsWith(COUNT) && verbs.test(verb(key))) {
        byVerb.merge(verb(key), value, Double::sum);
      }
    });
    return byVerb;
  }

  /** Seconds spent in the commands of {@code delta} of the verbs {@code verbs} accepts. */
  static double commandSeconds(Map<String, Double> delta, Predicate<String> verbs) {
    return delta.entrySet().stream()
        .filter(e -> e.getKey().startsWith(SUM) && verbs.test(verb(e.getKey())))
        .mapToDouble(Map.Entry::getValue).sum();
  }
}
