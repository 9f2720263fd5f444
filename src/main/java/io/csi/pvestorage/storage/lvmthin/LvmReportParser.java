package io.csi.pvestorage.storage.lvmthin;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
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
 * way, except the ones every row must have (VG, name, size, attr).
 */
public final class LvmReportParser {

  /** LVM's JSON, all strings; the typed conversion is {@link #toTyped}. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  record RawReport(@JsonProperty("report") List<RawSection> report) {}

  @JsonIgnoreProperties(ignoreUnknown = true)
  record RawSection(@JsonProperty("lv") List<RawLv> lv) {}

  @JsonIgnoreProperties(ignoreUnknown = true)
  record RawLv(
      @JsonProperty("vg_name") String vgName,
      @JsonProperty("vg_extent_size") String vgExtentSize,
      @JsonProperty("lv_name") String lvName,
      @JsonProperty("lv_size") String lvSize,
      @JsonProperty("lv_attr") String lvAttr,
      @JsonProperty("pool_lv") String poolLv,
      @JsonProperty("origin") String origin,
      @JsonProperty("data_percent") String dataPercent,
      @JsonProperty("metadata_percent") String metadataPercent,
      @JsonProperty("lv_metadata_size") String lvMetadataSize,
      @JsonProperty("lv_tags") String lvTags,
      @JsonProperty("lv_time") String lvTime) {}

  private static final ObjectReader READER = new ObjectMapper()
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .readerFor(RawReport.class);

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
    RawReport raw;
    try {
      raw = READER.readValue(json);
    } catch (JsonProcessingException e) {
      throw new StorageException(ErrorKind.INTERNAL,
          "lvs printed no JSON report this driver understands: " + e.getOriginalMessage()
              + " in: " + abbreviate(json), e);
    }
    if (raw == null || raw.report() == null) {
      throw new StorageException(ErrorKind.INTERNAL,
          "lvs printed no \"report\" array: " + abbreviate(json));
    }
    List<LogicalVolume> volumes = new ArrayList<>();
    for (RawSection section : raw.report()) {
      if (section != null && section.lv() != null) {
        for (RawLv lv : section.lv()) {
          volumes.add(toTyped(lv));
        }
      }
    }
    return volumes;
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
    return Arrays.stream(column.split(",")).filter(t -> !t.isEmpty()).toList();
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
