package io.csi.pvestorage.exec;

import java.time.Duration;

/** Told about every finished command; the metrics layer implements it. */
@FunctionalInterface
public interface CommandObserver {

  /** Ignores everything. */
  CommandObserver NONE = (verb, duration, outcome) -> {};

  /**
   * Called once per command.
   *
   * @param verb the bounded operation name ({@link Command#verb()})
   * @param duration how long it ran
   * @param outcome {@code ok}, {@code failed} (non-zero exit), or the lower-case error kind when
   *     the command did not finish ({@code unavailable} for a timeout or start failure,
   *     {@code aborted} for a cancellation)
   */
  void commandFinished(String verb, Duration duration, String outcome);
}
