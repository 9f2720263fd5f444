package io.csi.pvestorage.lock;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The mutating storage call a lock is taken for. It is written, as one line of text, to an
 * annotation of the Lease so that an operator can see what the holder is doing, and it is named
 * in the error a waiter gets when its deadline passes.
 *
 * @param verb what is done, a short lower-case word such as {@code alloc}, {@code free}, {@code
 *     clone}, {@code snapshot}, {@code resize}
 * @param subject the volume or snapshot it is done to; may be empty when not yet known (an
 *     {@code alloc} that picks a free name)
 * @param start when the caller asked for the lock
 */
public record Operation(String verb, String subject, Instant start) {

  private static final Pattern VERB = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

  public Operation {
    Objects.requireNonNull(verb, "verb");
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(start, "start");
    if (!VERB.matcher(verb).matches()) {
      throw new IllegalArgumentException(
          "operation verb must be a short lower-case word ([a-z][a-z0-9_-]{0,31}): '" + verb + "'");
    }
    if (subject.chars().anyMatch(Character::isISOControl)) {
      throw new IllegalArgumentException("operation subject must not contain control characters");
    }
  }

  /** An operation starting now by the given clock (truncated to milliseconds). */
  public static Operation of(String verb, String subject, Clock clock) {
    return new Operation(verb, subject, clock.instant().truncatedTo(ChronoUnit.MILLIS));
  }

  /**
   * One line for humans and for the Lease annotation, e.g. {@code alloc vm-100-disk-1 since
   * 2026-11-24T18:00:00Z}.
   */
  public String describe() {
    return subject.isEmpty()
        ? verb + " since " + start
        : verb + " " + subject + " since " + start;
  }

  @Override
  public String toString() {
    return describe();
  }
}
