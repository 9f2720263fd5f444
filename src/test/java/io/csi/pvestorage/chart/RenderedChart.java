package io.csi.pvestorage.chart;

import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The chart rendered in-process by helm-java ({@code helm template}) and parsed into fabric8
 * objects: what ChartTest checks and what the container ITs translate into a runc
 * configuration.
 */
public final class RenderedChart {

  /** The chart, relative to the project directory. */
  public static final Path CHART = Path.of("charts/pve-storage-csi");
  /** The Kubernetes version templates are rendered for. */
  private static final String KUBE_VERSION = "1.34.0";

  private final List<HasMetadata> objects;

  private RenderedChart(List<HasMetadata> objects) {
    this.objects = objects;
  }

  /**
   * Renders the chart of the project with these values files (later ones win).
   *
   * @throws RuntimeException when helm refuses (schema, a failing {@code required})
   */
  public static RenderedChart render(Path projectDir, String release, String namespace,
      List<Path> valuesFiles) {
    var template = new Helm(projectDir.resolve(CHART)).template().withName(release)
        .withNamespace(namespace).withKubeVersion(KUBE_VERSION);
    for (Path values : valuesFiles) {
      template = template.withValuesFile(values);
    }
    return new RenderedChart(parse(template.call()));
  }

  /** The objects of {@code helm template} output, one per YAML document. */
  public static List<HasMetadata> parse(String yaml) {
    List<HasMetadata> objects = new ArrayList<>();
    for (String doc : yaml.split("(?m)^---\\s*$")) {
      if (doc.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) {
        continue;
      }
      HasMetadata object = Serialization.unmarshal(doc);
      if (object == null) {
        throw new IllegalStateException("helm rendered a document that is no object:\n" + doc);
      }
      objects.add(object);
    }
    return objects;
  }

  public List<HasMetadata> objects() {
    return objects;
  }

  /** Every rendered object of a kind. */
  public <T> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  /** The one rendered object of a kind. */
  public <T> T only(Class<T> type) {
    List<T> found = all(type);
    if (found.size() != 1) {
      throw new IllegalStateException("expected one " + type.getSimpleName() + ", rendered "
          + found.size());
    }
    return found.getFirst();
  }
}
