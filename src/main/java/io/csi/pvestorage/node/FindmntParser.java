package io.csi.pvestorage.node;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads the mount table from {@code findmnt -J -l -o } {@value #COLUMNS}: one flat JSON list
 * of every mount, in mount order.
 *
 * <p>JSON rather than findmnt's other formats because its quoting is exact for any path (spaces,
 * quotes, backslashes) and stable across util-linux releases, where the {@code -P} column names
 * changed. Jackson reads it (the driver has it already for lvm's reports and the Kubernetes
 * client); columns and values the driver does not need are ignored, and text after the JSON
 * document is refused, so a truncated or doubled output never passes as a mount table.
 */
public final class FindmntParser {

  /** The columns asked for, in findmnt's spelling. */
  public static final String COLUMNS = "TARGET,SOURCE,FSTYPE,VFS-OPTIONS,FS-OPTIONS,MAJ:MIN,FSROOT";

  private static final ObjectReader READER = JsonMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build()
      .reader();

  private FindmntParser() {}

  /**
   * Parses findmnt's output.
   *
   * @throws StorageException INTERNAL when the text is not the expected JSON
   */
  public static MountTable parse(String json) {
    JsonNode root;
    try {
      root = READER.readTree(json);
    } catch (JacksonException e) {
      throw malformed(e.getOriginalMessage());
    }
    JsonNode list = root == null ? null : root.get("filesystems");
    if (list == null || !list.isArray()) {
      throw malformed("no \"filesystems\" list");
    }
    List<MountEntry> entries = new ArrayList<>(list.size());
    for (JsonNode fs : list) {
      if (!fs.isObject()) {
        throw malformed("a filesystem is not an object");
      }
      entries.add(new MountEntry(text(fs, "target"), text(fs, "source"), text(fs, "fstype"),
          options(text(fs, "vfs-options")), options(text(fs, "fs-options")),
          text(fs, "maj:min"), text(fs, "fsroot")));
    }
    return new MountTable(entries);
  }

  private static String text(JsonNode fs, String column) {
    JsonNode value = fs.get(column);
    if (value == null) {
      throw malformed("column " + column + " is missing");
    }
    // findmnt prints null for an empty cell (e.g. no source); a number is read as its text.
    return value.isNull() ? "" : value.isValueNode() ? value.asText() : value.toString();
  }

  private static List<String> options(String text) {
    return text.isEmpty() ? List.of() : Arrays.asList(text.split(","));
  }

  private static StorageException malformed(String what) {
    return new StorageException(ErrorKind.INTERNAL, "cannot read findmnt output: " + what);
  }
}
