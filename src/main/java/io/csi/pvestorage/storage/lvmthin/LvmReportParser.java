package io.csi.pvestorage.storage.lvmthin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Parses the JSON report of {@code lvs --reportformat json --units b --nosuffix} with the
 * columns of {@link LvmCommands#LVS_COLUMNS} into {@link LogicalVolume}s. A pure function: text
 * in, records out.
 *
 * <p>LVM reports every value as a JSON string, and an empty string for "not applicable" (a
 * thin volume has no metadata size, an inactive one no data percentage); such values become
 * empty optionals. Columns that are not in the report (an older column list) are treated the same
 * way, except the ones every row must have (VG, name, size, attr). Unknown columns are ignored.
 *
 * <p>Jackson's streaming parser fills a raw all-string row ({@link RawLv}), which is then typed.
 * Streaming rather than data binding, because binding's one-time set-up (record introspection)
 * cost about 0.4 s on the first listing after start, twice what a cold 2,000-LV report takes to
 * read (see src/site/markdown/lvmthin.md, benchmark).
 */
public final class LvmReportParser {

  /** One row as LVM wrote it: all strings, null when the column is absent. */
  record RawLv(String vgName, String vgExtentSize, String lvName, String lvSize, String lvAttr,
      String poolLv, String origin, String dataPercent, String metadataPercent,
      String lvMetadataSize, String lvTags, String lvTime) {}

  private static final JsonFactory FACTORY = new JsonFactory();

  private LvmReportParser() {}

  /**
   * Parses one report.
   *
   * @param json the standard output of {@code lvs}
   * @return the LVs in LVM's order
   * @throws StorageException INTERNAL when the text is not such a report, quoting what was
   *     wrong
   */
  public static List<LogicalVolume> parse(String json) {
    return rows(json, parser -> toTyped(readRow(parser)));
  }

  /**
   * Whether autoactivation is on, from the one-row report of {@link
   * LvmCommands#autoactivation}: {@code "1"} is on, {@code "0"} off.
   *
   * @return empty when the report has no row or no such column, or a value this parser does not
   *     know (then nobody can tell)
   * @throws StorageException INTERNAL when the text is not an lvs report
   */
  public static Optional<Boolean> autoactivation(String json) {
    List<String> values = rows(json, parser -> {
      String value = null;
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String field = parser.currentName();
        if (parser.nextToken().isStructStart()) {
          parser.skipChildren();
        } else if (field.equals("lv_autoactivation")) {
          value = parser.getValueAsString();
        }
      }
      return value == null ? "" : value;
    });
    return values.stream().findFirst().flatMap(v -> switch (v) {
      case "1" -> Optional.of(true);
      case "0" -> Optional.of(false);
      default -> Optional.empty();
    });
  }

  /** Reads one row; the parser stands on the row's START_OBJECT. */
  @FunctionalInterface
  private interface RowReader<T> {
    T read(JsonParser parser) throws IOException;
  }

  /** Every row of every {@code lv} section of the report, in LVM's order. */
  private static <T> List<T> rows(String json, RowReader<T> reader) {
    List<T> rows = new ArrayList<>();
    boolean sawReport = false;
    try (JsonParser parser = FACTORY.createParser(json)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        throw notAReport(json, "no JSON object");
      }
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String field = parser.currentName();
        parser.nextToken();
        if (field.equals("report") && parser.currentToken() == JsonToken.START_ARRAY) {
          sawReport = true;
          readSections(parser, reader, rows);
        } else {
          parser.skipChildren();
        }
      }
    } catch (IOException e) {
      throw new StorageException(ErrorKind.INTERNAL, "lvs printed no JSON report this driver "
          + "understands: " + e.getMessage() + " in: " + abbreviate(json), e);
    }
    if (!sawReport) {
      throw notAReport(json, "no \"report\" array");
    }
    return rows;
  }

  /** {@code [ {"lv": [ {...}, ... ]}, ... ]}; other sections (e.g. a log) are skipped. */
  private static <T> void readSections(JsonParser parser, RowReader<T> reader, List<T> rows)
      throws IOException {
    while (parser.nextToken() == JsonToken.START_OBJECT) {
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String field = parser.currentName();
        parser.nextToken();
        if (field.equals("lv") && parser.currentToken() == JsonToken.START_ARRAY) {
          while (parser.nextToken() == JsonToken.START_OBJECT) {
            rows.add(reader.read(parser));
          }
        } else {
          parser.skipChildren();
        }
      }
    }
  }

  private static RawLv readRow(JsonParser parser) throws IOException {
    String[] v = new String[12];
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      JsonToken token = parser.nextToken();
      int index = switch (field) {
        case "vg_name" -> 0;
        case "vg_extent_size" -> 1;
        case "lv_name" -> 2;
        case "lv_size" -> 3;
        case "lv_attr" -> 4;
        case "pool_lv" -> 5;
        case "origin" -> 6;
        case "data_percent" -> 7;
        case "metadata_percent" -> 8;
        case "lv_metadata_size" -> 9;
        case "lv_tags" -> 10;
        case "lv_time" -> 11;
        default -> -1;
      };
      if (token.isStructStart()) {
        parser.skipChildren();
      } else if (index >= 0) {
        v[index] = parser.getValueAsString();
      }
    }
    return new RawLv(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]);
  }

  private static StorageException notAReport(String json, String why) {
    return new StorageException(ErrorKind.INTERNAL,
        "lvs printed no JSON report this driver understands (" + why + "): " + abbreviate(json));
  }

  static LogicalVolume toTyped(RawLv raw) {
    try {
      return new LogicalVolume(
          required(raw.vgName(), "vg_name"),
          required(raw.lvName(), "lv_name"),
          Long.parseLong(required(raw.lvSize(), "lv_size")),
          LvAttr.parse(required(raw.lvAttr(), "lv_attr")),
          text(raw.poolLv()),
          text(raw.origin()),
          text(raw.dataPercent()).map(BigDecimal::new),
          text(raw.metadataPercent()).map(BigDecimal::new),
          number(raw.lvMetadataSize()),
          tags(raw.lvTags()),
          text(raw.lvTime()).map(t -> Instant.ofEpochSecond(Long.parseLong(t))),
          number(raw.vgExtentSize()));
    } catch (NumberFormatException | StorageException e) {
      throw new StorageException(ErrorKind.INTERNAL,
          "lvs reported a row this driver cannot read (" + e.getMessage() + "): " + raw, e);
    }
  }

  /** LVM separates tags with commas; a tag itself can never contain one. */
  static List<String> tags(String column) {
    if (column == null || column.isEmpty()) {
      return List.of();
    }
    List<String> tags = new ArrayList<>(4);
    int start = 0;
    while (start <= column.length()) {
      int comma = column.indexOf(',', start);
      int end = comma < 0 ? column.length() : comma;
      if (end > start) {
        tags.add(column.substring(start, end));
      }
      start = end + 1;
    }
    return tags;
  }

  private static String required(String value, String column) {
    if (value == null || value.isEmpty()) {
      throw new StorageException(ErrorKind.INTERNAL, "column " + column + " is missing");
    }
    return value;
  }

  private static Optional<String> text(String value) {
    return value == null || value.isEmpty() ? Optional.empty() : Optional.of(value);
  }

  private static OptionalLong number(String value) {
    return value == null || value.isEmpty()
        ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(value));
  }

  private static String abbreviate(String text) {
    String oneLine = text.strip().replaceAll("\\s+", " ");
    return oneLine.length() > 300 ? oneLine.substring(0, 300) + "..." : oneLine;
  }
}
