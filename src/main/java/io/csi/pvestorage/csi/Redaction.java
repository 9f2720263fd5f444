package io.csi.pvestorage.csi;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MapEntry;
import com.google.protobuf.Message;
import csi.v1.CsiProto;
import io.grpc.Context;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Keeps what a request holds in confidence out of logs and status messages.
 *
 * <p>Two tools: {@link #redact} copies a message for a debug log with every {@code csi_secret}
 * field cleared and mount flags (which the spec says may hold sensitive values) replaced; {@link
 * #sensitiveValues} collects those values from a request so that {@link #scrub} can remove them
 * from any text the call produces, whoever wrote it. The interceptor binds a call's values to
 * its gRPC context ({@link #SENSITIVE}), where the log formatter finds them.
 */
public final class Redaction {

  /** What replaces a secret. */
  public static final String REDACTED = "<redacted>";

  /** The sensitive values of the call the current thread serves. */
  static final Context.Key<Sensitive> SENSITIVE = Context.key("pve-storage-csi-sensitive");

  /**
   * A mount flag value this short stands alone too often in ordinary text ({@code uid=0},
   * {@code exit 0}) to be replaced everywhere; it is still replaced after its {@code key=}.
   */
  private static final int MIN_BARE_FLAG_VALUE = 4;

  private Redaction() {}

  static Message redact(Message message) {
    Message.Builder builder = message.toBuilder();
    for (var entry : message.getAllFields().entrySet()) {
      FieldDescriptor field = entry.getKey();
      if (field.getOptions().getExtension(CsiProto.csiSecret)) {
        builder.clearField(field);
      } else if (field.getName().equals("mount_flags")) {
        builder.clearField(field);
        builder.addRepeatedField(field, REDACTED);
      } else if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !field.isMapField()) {
        if (field.isRepeated()) {
          builder.clearField(field);
          for (Object item : (List<?>) entry.getValue()) {
            builder.addRepeatedField(field, redact((Message) item));
          }
        } else {
          builder.setField(field, redact((Message) entry.getValue()));
        }
      }
    }
    return builder.build();
  }

  /**
   * What one request holds in confidence.
   *
   * @param secrets every value of a {@code csi_secret} field (the secrets maps): replaced
   *     wherever they appear
   * @param options every mount flag option of the form {@code key=value}: replaced by {@code
   *     key=<redacted>}, so that a message can still name the option it refuses
   * @param optionValues the values of those options, replaced where they stand as a word of
   *     their own (very short ones, such as the 0 of {@code uid=0}, stay: they are no secret and
   *     would garble every number)
   */
  record Sensitive(List<String> secrets, List<String> options, List<String> optionValues) {

    static final Sensitive NONE = new Sensitive(List.of(), List.of(), List.of());

    Sensitive {
      // Longest first, so that a secret is never half-replaced through a shorter one inside it.
      secrets = longestFirst(secrets);
      options = longestFirst(options);
      optionValues = longestFirst(optionValues);
    }

    boolean isEmpty() {
      return secrets.isEmpty() && options.isEmpty() && optionValues.isEmpty();
    }

    private static List<String> longestFirst(List<String> values) {
      return values.stream().distinct()
          .sorted(Comparator.comparingInt(String::length).reversed()).toList();
    }
  }

  /** The secrets and mount flag values of a request. */
  static Sensitive sensitiveValues(Message message) {
    List<String> secrets = new ArrayList<>();
    List<String> options = new ArrayList<>();
    List<String> values = new ArrayList<>();
    collect(message, secrets, options, values);
    return new Sensitive(secrets, options, values);
  }

  private static void collect(Message message, List<String> secrets, List<String> options,
      List<String> values) {
    for (var entry : message.getAllFields().entrySet()) {
      FieldDescriptor field = entry.getKey();
      List<?> items = field.isRepeated() ? (List<?>) entry.getValue() : List.of(entry.getValue());
      if (field.getOptions().getExtension(CsiProto.csiSecret)) {
        for (Object item : items) {
          Object value = item instanceof MapEntry<?, ?> e ? e.getValue() : item;
          if (value instanceof String text && !text.isEmpty()) {
            secrets.add(text);
          }
        }
      } else if (field.getName().equals("mount_flags")) {
        for (Object flag : items) {
          for (String option : ((String) flag).split(",")) {
            int eq = option.indexOf('=');
            if (eq >= 0 && eq < option.length() - 1) {
              options.add(option);
              if (option.length() - eq - 1 >= MIN_BARE_FLAG_VALUE) {
                values.add(option.substring(eq + 1));
              }
            }
          }
        }
      } else if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !field.isMapField()) {
        for (Object item : items) {
          collect((Message) item, secrets, options, values);
        }
      }
    }
  }

  /** {@code text} with every sensitive value of {@code sensitive} replaced. */
  static String scrub(String text, Sensitive sensitive) {
    if (text == null || sensitive.isEmpty()) {
      return text;
    }
    String out = text;
    for (String secret : sensitive.secrets()) {
      out = out.replace(secret, REDACTED);
    }
    for (String option : sensitive.options()) {
      out = out.replace(option, option.substring(0, option.indexOf('=') + 1) + REDACTED);
    }
    for (String value : sensitive.optionValues()) {
      out = word(value).matcher(out).replaceAll(Matcher.quoteReplacement(REDACTED));
    }
    return out;
  }

  /** The value where it is not part of a longer word of letters and digits. */
  private static Pattern word(String value) {
    return Pattern.compile("(?<![\\p{L}\\p{N}])" + Pattern.quote(value) + "(?![\\p{L}\\p{N}])");
  }

  /** The sensitive values bound to the current gRPC context; empty outside a call. */
  static Sensitive currentSensitive() {
    Sensitive values = SENSITIVE.get();
    return values == null ? Sensitive.NONE : values;
  }
}
