package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the mount table from {@code findmnt -J -l -o } {@value #COLUMNS}: one flat JSON list
 * of every mount, in mount order.
 *
 * <p>JSON rather than findmnt's other formats because its quoting is exact for any path (spaces,
 * quotes, backslashes) and stable across util-linux releases, where the {@code -P} column names
 * changed. The driver keeps no JSON library in this package (it may import only the JDK), so a
 * small reader of the JSON grammar is part of this parser; it accepts any JSON and ignores
 * columns and values it does not need.
 */
public final class FindmntParser {

  /** The columns asked for, in findmnt's spelling. */
  public static final String COLUMNS = "TARGET,SOURCE,FSTYPE,VFS-OPTIONS,FS-OPTIONS,MAJ:MIN,FSROOT";

  private FindmntParser() {}

  /**
   * Parses findmnt's output.
   *
   * @throws StorageException INTERNAL when the text is not the expected JSON
   */
  public static MountTable parse(String json) {
    Object root = new JsonReader(json).document();
    if (!(root instanceof Map<?, ?> top) || !(top.get("filesystems") instanceof List<?> list)) {
      throw malformed("no \"filesystems\" list");
    }
    List<MountEntry> entries = new ArrayList<>(list.size());
    for (Object item : list) {
      if (!(item instanceof Map<?, ?> fs)) {
        throw malformed("a filesystem is not an object");
      }
      entries.add(new MountEntry(text(fs, "target"), text(fs, "source"), text(fs, "fstype"),
          options(text(fs, "vfs-options")), options(text(fs, "fs-options")),
          text(fs, "maj:min"), text(fs, "fsroot")));
    }
    return new MountTable(entries);
  }

  private static String text(Map<?, ?> fs, String column) {
    Object value = fs.get(column);
    if (value == null) {
      // findmnt prints null for an empty cell (e.g. no source).
      if (fs.containsKey(column)) {
        return "";
      }
      throw malformed("column " + column + " is missing");
    }
    return value.toString();
  }

  private static List<String> options(String text) {
    return text.isEmpty() ? List.of() : Arrays.asList(text.split(","));
  }

  private static StorageException malformed(String what) {
    return new StorageException(ErrorKind.INTERNAL, "cannot read findmnt output: " + what);
  }

  /** A recursive-descent reader of RFC 8259 JSON into maps, lists, strings, numbers, booleans. */
  private static final class JsonReader {
    private final String in;
    private int at;

    JsonReader(String in) {
      this.in = in;
    }

    Object document() {
      Object value = value();
      space();
      if (at != in.length()) {
        throw malformed("text after the JSON value at offset " + at);
      }
      return value;
    }

    private Object value() {
      space();
      if (at >= in.length()) {
        throw malformed("unexpected end");
      }
      char c = in.charAt(at);
      return switch (c) {
        case '{' -> object();
        case '[' -> array();
        case '"' -> string();
        case 't' -> literal("true", Boolean.TRUE);
        case 'f' -> literal("false", Boolean.FALSE);
        case 'n' -> literal("null", null);
        default -> number();
      };
    }

    private Map<String, Object> object() {
      Map<String, Object> map = new LinkedHashMap<>();
      at++;
      space();
      if (peek('}')) {
        at++;
        return map;
      }
      while (true) {
        space();
        if (!peek('"')) {
          throw malformed("expected a key at offset " + at);
        }
        String key = string();
        space();
        expect(':');
        map.put(key, value());
        space();
        if (peek(',')) {
          at++;
        } else {
          expect('}');
          return map;
        }
      }
    }

    private List<Object> array() {
      List<Object> list = new ArrayList<>();
      at++;
      space();
      if (peek(']')) {
        at++;
        return list;
      }
      while (true) {
        list.add(value());
        space();
        if (peek(',')) {
          at++;
        } else {
          expect(']');
          return list;
        }
      }
    }

    private String string() {
      at++;
      StringBuilder out = new StringBuilder();
      while (true) {
        if (at >= in.length()) {
          throw malformed("unterminated string");
        }
        char c = in.charAt(at++);
        if (c == '"') {
          return out.toString();
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        if (at >= in.length()) {
          throw malformed("unterminated escape");
        }
        char e = in.charAt(at++);
        switch (e) {
          case '"', '\\', '/' -> out.append(e);
          case 'b' -> out.append('\b');
          case 'f' -> out.append('\f');
          case 'n' -> out.append('\n');
          case 'r' -> out.append('\r');
          case 't' -> out.append('\t');
          case 'u' -> {
            if (at + 4 > in.length()) {
              throw malformed("short \\u escape");
            }
            try {
              out.append((char) Integer.parseInt(in.substring(at, at + 4), 16));
            } catch (NumberFormatException ex) {
              throw malformed("bad \\u escape at offset " + at);
            }
            at += 4;
          }
          default -> throw malformed("bad escape \\" + e);
        }
      }
    }

    private Object number() {
      int start = at;
      while (at < in.length() && "+-0123456789.eE".indexOf(in.charAt(at)) >= 0) {
        at++;
      }
      if (start == at) {
        throw malformed("unexpected '" + in.charAt(at) + "' at offset " + at);
      }
      // Kept as text: findmnt's columns are read as strings whatever their JSON type.
      return in.substring(start, at);
    }

    private Object literal(String word, Object value) {
      if (!in.startsWith(word, at)) {
        throw malformed("unexpected text at offset " + at);
      }
      at += word.length();
      return value;
    }

    private void space() {
      while (at < in.length() && " \t\r\n".indexOf(in.charAt(at)) >= 0) {
        at++;
      }
    }

    private boolean peek(char c) {
      return at < in.length() && in.charAt(at) == c;
    }

    private void expect(char c) {
      if (!peek(c)) {
        throw malformed("expected '" + c + "' at offset " + at);
      }
      at++;
    }
  }
}
