package io.csi.pvestorage.csi;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import csi.v1.CsiProto;
import java.util.List;

/**
 * Copies of CSI messages that are safe to log: every field the contract marks
 * {@code csi_secret} is cleared, and mount flags (which the spec says may hold sensitive values)
 * are replaced.
 */
final class Redaction {

  private Redaction() {}

  static Message redact(Message message) {
    Message.Builder builder = message.toBuilder();
    for (var entry : message.getAllFields().entrySet()) {
      FieldDescriptor field = entry.getKey();
      if (field.getOptions().getExtension(CsiProto.csiSecret)) {
        builder.clearField(field);
      } else if (field.getName().equals("mount_flags")) {
        builder.clearField(field);
        builder.addRepeatedField(field, "<redacted>");
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
}
