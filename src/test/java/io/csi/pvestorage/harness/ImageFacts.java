package io.csi.pvestorage.harness;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The driver image's facts, {@code src/image/image.properties}: what src/image/build makes the
 * OCI image from and what the Dockerfile must say too. Tests compare both definitions with
 * these, so neither can drift from the other.
 */
public final class ImageFacts {

  public static final Path FILE = Path.of("src/image/image.properties");
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Properties properties;

  private ImageFacts(Properties properties) {
    this.properties = properties;
  }

  /** Reads {@link #FILE} relative to the project directory. */
  public static ImageFacts load(Path projectDir) {
    Properties properties = new Properties();
    try (Reader in = Files.newBufferedReader(projectDir.resolve(FILE), StandardCharsets.UTF_8)) {
      properties.load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new ImageFacts(properties);
  }

  /** One fact; a missing key fails. */
  public String get(String key) {
    String value = properties.getProperty(key);
    if (value == null) {
      throw new IllegalArgumentException(FILE + " has no '" + key + "'");
    }
    return value;
  }

  /** A list separated by spaces (packages, jlink options). */
  public List<String> words(String key) {
    return Arrays.asList(get(key).trim().split("\\s+"));
  }

  /** A list separated by commas (Java modules). */
  public List<String> commaList(String key) {
    return Arrays.stream(get(key).split(",")).map(String::strip).toList();
  }

  /** A JSON array (entrypoint, cmd). */
  public List<String> jsonArray(String key) {
    try {
      return JSON.readValue(get(key), new TypeReference<List<String>>() {});
    } catch (IOException e) {
      throw new IllegalArgumentException(FILE + ": '" + key + "' is not a JSON array of strings", e);
    }
  }

  /** Every fact under a prefix ({@code env.}, {@code label.}), keyed without it. */
  public Map<String, String> withPrefix(String prefix) {
    Map<String, String> found = new TreeMap<>();
    for (String key : properties.stringPropertyNames()) {
      if (key.startsWith(prefix)) {
        found.put(key.substring(prefix.length()), properties.getProperty(key));
      }
    }
    return found;
  }
}
