package io.csi.pvestorage.node.crypt;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Secret;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Takes the encryption passphrase out of a CSI request's secrets. The CSI sidecars put the data
 * of the Secret a StorageClass names (e.g. {@code csi.storage.k8s.io/node-stage-secret-name})
 * into the request; the passphrase is the value of its key {@link #SECRET_KEY}. Messages name
 * the secret and the volume, never the value or its length.
 */
public final class EncryptionKey {

  /** The key inside the Kubernetes Secret whose value is the passphrase. */
  public static final String SECRET_KEY = "encryptionPassphrase";

  /** Shortest passphrase accepted (also the least OpenZFS accepts). */
  public static final int MIN_BYTES = 8;

  /** Longest passphrase accepted (the most OpenZFS accepts; cryptsetup takes it too). */
  public static final int MAX_BYTES = 512;

  private EncryptionKey() {}

  /**
   * The passphrase of a request.
   *
   * @param secrets the request's secrets map
   * @param secretParameter the StorageClass parameter that names the Secret, for messages
   *     (e.g. {@code csi.storage.k8s.io/node-stage-secret-name})
   * @param volume the volume, for messages
   * @throws StorageException INVALID when the secret is missing, empty, too short or long, or
   *     holds a NUL byte: before any command runs
   */
  public static Secret from(Map<String, String> secrets, String secretParameter, String volume) {
    String value = secrets.get(SECRET_KEY);
    String where = "the Secret named by StorageClass parameter " + secretParameter;
    if (value == null || value.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "volume " + volume + " is encrypted but "
          + (secrets.isEmpty() ? "the request carries no secrets: set " + secretParameter
              + " (and its -namespace) in the StorageClass"
              : where + " has no non-empty key '" + SECRET_KEY + "'"));
    }
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    if (bytes.length < MIN_BYTES || bytes.length > MAX_BYTES || value.indexOf('\0') >= 0) {
      throw new StorageException(ErrorKind.INVALID, "key '" + SECRET_KEY + "' of " + where
          + " (volume " + volume + ") must be " + MIN_BYTES + " to " + MAX_BYTES
          + " bytes without NUL bytes");
    }
    return Secret.of(bytes);
  }
}
