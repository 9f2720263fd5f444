package io.csi.pvestorage.exec;

import java.util.Arrays;
import java.util.Objects;

/**
 * Bytes a command reads on its standard input that must never be shown: an encryption
 * passphrase. The value leaves this object only through {@link #bytes()}, which a runner calls
 * to write it to the child's stdin; {@link #toString()} says nothing about it (not even its
 * length), so a record that holds a secret, a log line or an exception message that prints one
 * cannot leak it. Two secrets are equal only when they are the same object, so equality checks
 * give away nothing either.
 */
public final class Secret {

  private final byte[] value;

  private Secret(byte[] value) {
    this.value = value;
  }

  /** A secret holding a copy of {@code value}. */
  public static Secret of(byte[] value) {
    return new Secret(Objects.requireNonNull(value, "value").clone());
  }

  /** A copy of the secret bytes, for a runner to write to a child's standard input. */
  public byte[] bytes() {
    return value.clone();
  }

  /** Whether the secret holds the same bytes as {@code candidate} (for tests that hunt it). */
  public boolean sameBytes(byte[] candidate) {
    return Arrays.equals(value, candidate);
  }

  @Override
  public String toString() {
    return "<secret>";
  }
}
