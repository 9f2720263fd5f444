package io.csi.pvestorage.storage.config;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ByteQuantity;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads Proxmox VE's storage.cfg section syntax into a {@link StorageConfig}.
 *
 * <p>The format: a section starts with a header line {@code <type>: <storeid>} at column 0;
 * its properties follow on indented lines {@code <key> [<value>]}; a blank line ends the
 * section. Lines whose first non-blank character is {@code #} are comments. A key without a
 * value sets a boolean option ({@code sparse}, {@code disable}).
 *
 * <p>{@code lvmthin} and {@code zfspool} sections become storages; sections of every other type
 * ({@code dir}, {@code nfs}, {@code pbs}, ...) are skipped and reported in {@link
 * StorageConfig#skipped()}, so a host's real {@code /etc/pve/storage.cfg} loads as it is.
 * Besides PVE's own keys, our sections accept the {@code csi-*} keys of this driver, which PVE
 * itself would reject: use them only in a configuration written for the driver.
 *
 * <p>Every error names the source and line and says what is accepted.
 */
public final class StorageConfigParser {

  /** PVE's storage ID grammar (case-insensitive, at least two characters). */
  public static final Pattern STORE_ID = Pattern.compile("(?i)[a-z][a-z0-9\\-_.]*[a-z0-9]");

  /** PVE's LVM name grammar for VG and LV names. */
  public static final Pattern LVM_NAME = Pattern.compile("(?i)[a-z0-9][a-z0-9\\-_.]*[a-z0-9]");

  /** A ZFS dataset path: pool name starting with a letter, then components. */
  public static final Pattern ZFS_DATASET =
      Pattern.compile("[A-Za-z][A-Za-z0-9_.:\\-]*(/[A-Za-z0-9_.:\\-]+)*");

  /** A Kubernetes/PVE node name (DNS subdomain). */
  private static final Pattern NODE_NAME =
      Pattern.compile("[a-z0-9]([a-z0-9\\-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9\\-]*[a-z0-9])?)*");

  private static final Pattern HEADER = Pattern.compile("([^\\s:]+):\\s*(\\S*)\\s*");
  private static final Pattern PROPERTY = Pattern.compile("\\s+(\\S+)(?:\\s+(.*?))?\\s*");

  private static final Set<String> COMMON_KEYS = Set.of(
      "content", "nodes", "disable", "bwlimit",
      "csi-owner", "csi-overcommit", "csi-data-limit", "csi-metadata-limit");
  private static final Set<String> LVMTHIN_KEYS = Set.of("vgname", "thinpool");
  private static final Set<String> ZFSPOOL_KEYS = Set.of("pool", "blocksize", "sparse", "mountpoint");
  private static final Set<String> CONTENT_TYPES = Set.of("images", "rootdir");
  private static final long MAX_OWNER = 999_999_999L;

  private StorageConfigParser() {}

  /** A section as written, before interpretation. */
  private record Section(String type, String storeId, int line, Map<String, Property> props) {}

  private record Property(String value, int line) {}

  /**
   * Parses storage.cfg text, refusing a {@code csi-owner} that is a possible PVE guest ID.
   *
   * @param text the file content
   * @param source the file name used in error messages
   * @throws StorageException INVALID with {@code <source>:<line>: <what is wrong>}
   */
  public static StorageConfig parse(String text, String source) {
    return parse(text, source, OwnerPolicy.DEFAULT);
  }

  /**
   * Parses storage.cfg text.
   *
   * @param text the file content
   * @param source the file name used in error messages
   * @param owners which {@code csi-owner} values are allowed ({@link OwnerPolicy})
   * @throws StorageException INVALID with {@code <source>:<line>: <what is wrong>}
   */
  public static StorageConfig parse(String text, String source, OwnerPolicy owners) {
    List<Section> sections = sections(text, source);
    List<StorageDefinition> storages = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    for (Section section : sections) {
      Integer earlier = seen.putIfAbsent(section.storeId().toLowerCase(Locale.ROOT), section.line());
      if (earlier != null) {
        throw error(source, section.line(), "storage ID '" + section.storeId()
            + "' is defined twice (first at line " + earlier + "); storage IDs must be unique");
      }
      switch (section.type()) {
        case "lvmthin" -> storages.add(lvmThin(section, source, owners));
        case "zfspool" -> storages.add(zfsPool(section, source, owners));
        default -> skipped.add(section.type() + ": " + section.storeId() + " (line "
            + section.line() + ")");
      }
    }
    return new StorageConfig(storages, skipped);
  }

  private static List<Section> sections(String text, String source) {
    List<Section> sections = new ArrayList<>();
    String type = null;
    String storeId = null;
    int headerLine = 0;
    Map<String, Property> props = null;
    String[] lines = text.split("\\r?\\n", -1);
    for (int i = 0; i < lines.length; i++) {
      int lineNo = i + 1;
      String line = lines[i];
      if (line.isBlank()) {
        if (type != null) {
          sections.add(new Section(type, storeId, headerLine, props));
          type = null;
        }
        continue;
      }
      if (line.strip().startsWith("#")) {
        continue;
      }
      if (!Character.isWhitespace(line.charAt(0))) {
        if (type != null) {
          sections.add(new Section(type, storeId, headerLine, props));
        }
        Matcher header = HEADER.matcher(line);
        if (!header.matches()) {
          throw error(source, lineNo, "expected a section header '<type>: <storage ID>' but found '"
              + line.strip() + "' (property lines must be indented)");
        }
        type = header.group(1);
        storeId = header.group(2);
        headerLine = lineNo;
        props = new LinkedHashMap<>();
        if (storeId.isEmpty()) {
          throw error(source, lineNo, "section '" + type + ":' has no storage ID");
        }
        if (!STORE_ID.matcher(storeId).matches()) {
          throw error(source, lineNo, "storage ID '" + storeId + "' is invalid: use letters, "
              + "digits, '-', '_' and '.', starting with a letter and ending with a letter or "
              + "digit (at least 2 characters)");
        }
        continue;
      }
      if (type == null) {
        throw error(source, lineNo, "property line '" + line.strip()
            + "' is outside a section (a blank line ends a section)");
      }
      Matcher property = PROPERTY.matcher(line);
      if (!property.matches()) {
        throw error(source, lineNo, "cannot read property line '" + line.strip() + "'");
      }
      String key = property.group(1);
      String value = property.group(2) == null ? "" : property.group(2);
      Property earlier = props.putIfAbsent(key, new Property(value, lineNo));
      if (earlier != null) {
        throw error(source, lineNo, "key '" + key + "' is set twice in " + type + ": " + storeId
            + " (first at line " + earlier.line() + ")");
      }
    }
    if (type != null) {
      sections.add(new Section(type, storeId, headerLine, props));
    }
    return sections;
  }

  private static LvmThinStorage lvmThin(Section section, String source, OwnerPolicy owners) {
    checkKeys(section, source, LVMTHIN_KEYS);
    String vg = required(section, source, "vgname");
    String pool = required(section, source, "thinpool");
    checkName(section, source, "vgname", vg);
    checkName(section, source, "thinpool", pool);
    return new LvmThinStorage(section.storeId(), vg, pool, common(section, source, owners));
  }

  private static ZfsPoolStorage zfsPool(Section section, String source, OwnerPolicy owners) {
    checkKeys(section, source, ZFSPOOL_KEYS);
    String pool = required(section, source, "pool");
    if (!ZFS_DATASET.matcher(pool).matches()) {
      throw error(source, section.props().get("pool").line(), "pool '" + pool + "' is not a ZFS "
          + "dataset path such as 'rpool/data' (pool name starts with a letter; letters, digits, "
          + "'_', '-', '.', ':' and '/' between components)");
    }
    OptionalLong blockSize = OptionalLong.empty();
    Property bs = section.props().get("blocksize");
    if (bs != null) {
      blockSize = OptionalLong.of(blockSize(bs, source));
    }
    boolean sparse = bool(section, source, "sparse", false);
    Optional<String> mountpoint = Optional.empty();
    Property mp = section.props().get("mountpoint");
    if (mp != null) {
      if (!mp.value().startsWith("/") || mp.value().contains("\0")) {
        throw error(source, mp.line(), "mountpoint '" + mp.value() + "' must be an absolute path");
      }
      mountpoint = Optional.of(mp.value());
    }
    return new ZfsPoolStorage(section.storeId(), pool, blockSize, sparse, mountpoint,
        common(section, source, owners));
  }

  private static CommonOptions common(Section section, String source, OwnerPolicy owners) {
    Set<String> nodes = new LinkedHashSet<>();
    Property nodesProp = section.props().get("nodes");
    if (nodesProp != null) {
      for (String node : list(nodesProp.value())) {
        if (!NODE_NAME.matcher(node).matches()) {
          throw error(source, nodesProp.line(), "node name '" + node + "' in 'nodes' is invalid "
              + "(lower-case letters, digits, '-' and '.')");
        }
        nodes.add(node);
      }
    }
    Set<String> content = new LinkedHashSet<>(CONTENT_TYPES);
    Property contentProp = section.props().get("content");
    if (contentProp != null) {
      content.clear();
      for (String c : list(contentProp.value())) {
        if (!CONTENT_TYPES.contains(c)) {
          throw error(source, contentProp.line(), "content type '" + c + "' is not supported by "
              + section.type() + " (use images and/or rootdir)");
        }
        content.add(c);
      }
    }
    boolean disabled = bool(section, source, "disable", false);
    long owner = 0;
    Property ownerProp = section.props().get("csi-owner");
    if (ownerProp != null) {
      owner = number(ownerProp, source, "csi-owner", 0, MAX_OWNER);
      try {
        owners.check(owner, "csi-owner " + owner + " of " + section.type() + " storage '"
            + section.storeId() + "'");
      } catch (StorageException e) {
        throw error(source, ownerProp.line(), e.getMessage());
      }
    }
    CapacityPolicy defaults = CapacityPolicy.DEFAULT;
    double overcommit = defaults.overcommit();
    Property oc = section.props().get("csi-overcommit");
    if (oc != null) {
      try {
        overcommit = Double.parseDouble(oc.value());
      } catch (NumberFormatException e) {
        overcommit = Double.NaN;
      }
      if (!(overcommit >= 1.0 && overcommit <= 1000)) {
        throw error(source, oc.line(), "csi-overcommit '" + oc.value()
            + "' must be a number from 1.0 (no overcommit) to 1000");
      }
    }
    int dataLimit = percent(section, source, "csi-data-limit", defaults.dataLimitPercent());
    int metadataLimit =
        percent(section, source, "csi-metadata-limit", defaults.metadataLimitPercent());
    return new CommonOptions(nodes, disabled, content, owner,
        new CapacityPolicy(overcommit, dataLimit, metadataLimit));
  }

  private static void checkKeys(Section section, String source, Set<String> typeKeys) {
    for (Map.Entry<String, Property> entry : section.props().entrySet()) {
      String key = entry.getKey();
      if (!typeKeys.contains(key) && !COMMON_KEYS.contains(key)) {
        List<String> known = new ArrayList<>(typeKeys);
        known.addAll(COMMON_KEYS);
        known.sort(null);
        throw error(source, entry.getValue().line(), "unknown key '" + key + "' for "
            + section.type() + " storage '" + section.storeId() + "'; known keys: "
            + String.join(", ", known));
      }
    }
  }

  private static String required(Section section, String source, String key) {
    Property p = section.props().get(key);
    if (p == null || p.value().isEmpty()) {
      throw error(source, section.line(), section.type() + " storage '" + section.storeId()
          + "' lacks the required key '" + key + "'");
    }
    return p.value();
  }

  private static void checkName(Section section, String source, String key, String value) {
    if (!LVM_NAME.matcher(value).matches()) {
      throw error(source, section.props().get(key).line(), key + " '" + value + "' is not a "
          + "valid LVM name (letters, digits, '-', '_' and '.', starting and ending with a "
          + "letter or digit)");
    }
  }

  private static boolean bool(Section section, String source, String key, boolean absent) {
    Property p = section.props().get(key);
    if (p == null) {
      return absent;
    }
    return switch (p.value().toLowerCase(Locale.ROOT)) {
      case "", "1", "yes", "on", "true" -> true;
      case "0", "no", "off", "false" -> false;
      default -> throw error(source, p.line(), key + " '" + p.value()
          + "' is not a boolean (use 1 or 0; a key alone means 1)");
    };
  }

  private static int percent(Section section, String source, String key, int absent) {
    Property p = section.props().get(key);
    return p == null ? absent : (int) number(p, source, key, 1, 100);
  }

  private static long number(Property p, String source, String key, long min, long max) {
    try {
      long n = Long.parseLong(p.value());
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw error(source, p.line(), key + " '" + p.value() + "' must be an integer from " + min
        + " to " + max);
  }

  private static long blockSize(Property p, String source) {
    long bytes;
    try {
      bytes = ByteQuantity.parseBlockSize(p.value());
    } catch (IllegalArgumentException e) {
      bytes = -1;
    }
    if (bytes < 512 || bytes > 16L * 1024 * 1024 || Long.bitCount(bytes) != 1) {
      throw error(source, p.line(), "blocksize '" + p.value() + "' must be a power of two from "
          + "512 to 16M, written like 8k, 16k or 1M");
    }
    return bytes;
  }

  private static List<String> list(String value) {
    List<String> items = new ArrayList<>();
    for (String item : value.split("[,;\\s]+")) {
      if (!item.isEmpty()) {
        items.add(item);
      }
    }
    return items;
  }

  private static StorageException error(String source, int line, String message) {
    return new StorageException(ErrorKind.INVALID, source + ":" + line + ": " + message);
  }
}
