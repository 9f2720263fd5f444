package io.csi.pvestorage.chart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Keeps the chart README's table of values in step with values.yaml and values.schema.json.
 * When values change, regenerate the table with
 * {@code mvn -B -o test -Dtest=ChartValuesTableTest -Dchart.values.write=true}.
 */
class ChartValuesTableTest {

  private static final Path CHART = RenderedChart.CHART;
  private static final Path VALUES = CHART.resolve("values.yaml");
  private static final Path SCHEMA = CHART.resolve("values.schema.json");
  private static final Path README = CHART.resolve("README.md");
  private static final String REGENERATE =
      "mvn -B -o test -Dtest=ChartValuesTableTest -Dchart.values.write=true";

  @Test
  void theReadmeTableIsTheOneGeneratedFromValuesAndSchema() throws IOException {
    String table = ValuesTable.markdown(ValuesTable.rows(VALUES, SCHEMA));
    String readme = Files.readString(README);
    if (Boolean.getBoolean("chart.values.write")) {
      Files.writeString(README, ValuesTable.withTable(readme, table));
      readme = Files.readString(README);
    }
    assertEquals(table, ValuesTable.currentTable(readme).orElse("(no table)"),
        "the chart README's values table is out of date; regenerate it: " + REGENERATE);
  }

  @Test
  void everyDocumentedValueIsInTheSchemaWithAType() {
    JsonNode schema = read(SCHEMA, new ObjectMapper());
    List<String> problems = new ArrayList<>();
    for (ValuesTable.Row row : ValuesTable.rows(VALUES, SCHEMA)) {
      if (ValuesTable.schemaNode(schema, row.key()).isEmpty()) {
        problems.add(row.key() + ": not in values.schema.json");
      } else if (row.type().isEmpty() && !row.defaultValue().startsWith("{")) {
        problems.add(row.key() + ": the schema gives it no type or enum");
      }
    }
    assertEquals(List.of(), problems);
  }

  @Test
  void everyTopLevelValueAndEverySchemaPropertyIsDocumented() {
    JsonNode values = read(VALUES, new YAMLMapper());
    JsonNode schema = read(SCHEMA, new ObjectMapper());
    Set<String> documented = ValuesTable.rows(VALUES, SCHEMA).stream()
        .map(ValuesTable.Row::key).collect(Collectors.toCollection(TreeSet::new));
    Set<String> missing = new TreeSet<>();
    values.fieldNames().forEachRemaining(name -> {
      if (!documented.contains(name)) {
        missing.add(name + " (values.yaml)");
      }
    });
    // Every property the schema declares under a documented object with values in values.yaml
    // is a setting an operator may need, so it needs its own line.
    for (String key : documented) {
      JsonNode node = ValuesTable.schemaNode(schema, key).orElseThrow();
      if (key.contains("[]") && node.path("type").asText().equals("array")) {
        continue;
      }
      Iterator<String> children = node.path("properties").fieldNames();
      while (children.hasNext()) {
        String child = key + "." + children.next();
        boolean inValues = !at(values, child).isMissingNode();
        boolean freeForm = at(values, child).isObject() && at(values, child).size() > 0
            && !ValuesTable.schemaNode(schema, child).orElseThrow().has("properties");
        if (inValues && !freeForm && !documented.contains(child)) {
          missing.add(child);
        }
      }
    }
    assertTrue(missing.isEmpty(), "values without a `# --` comment in values.yaml: " + missing
        + "; document them and regenerate: " + REGENERATE);
  }

  private static JsonNode at(JsonNode values, String path) {
    JsonNode node = values;
    for (String part : path.split("\\.")) {
      node = part.endsWith("[]") ? node.path(part.substring(0, part.length() - 2)).path(0)
          : node.path(part);
    }
    return node;
  }

  private static JsonNode read(Path file, ObjectMapper mapper) {
    try {
      return mapper.readTree(file.toFile());
    } catch (IOException e) {
      throw new IllegalStateException(file + ": " + e.getMessage(), e);
    }
  }
}
