package io.csi.pvestorage.csi;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Whether the driver is ready to serve storage calls, as Probe reports it. Readiness is the
 * conjunction of named conditions that start-up work sets independently (the storage lock, the
 * tool check, shutdown): the driver is ready when none of them holds a reason. The unnamed
 * methods act on the driver's own start-up condition, which starts not ready. Reading it costs
 * nothing, so Probe never runs a storage command.
 */
public final class Readiness {

  /** The condition of {@link #markReady()} and {@link #markNotReady(String)}. */
  private static final String DRIVER = "driver";

  /** Condition name to the reason it is not met, in the order the conditions appeared. */
  private final Map<String, String> notReady = new LinkedHashMap<>();

  public Readiness() {
    notReady.put(DRIVER, "starting");
  }

  public synchronized boolean isReady() {
    return notReady.isEmpty();
  }

  /** Why not ready (every unmet condition's reason, joined by "; "), or null when ready. */
  public synchronized String reason() {
    return notReady.isEmpty() ? null : String.join("; ", notReady.values());
  }

  public void markReady() {
    markReady(DRIVER);
  }

  public void markNotReady(String reason) {
    markNotReady(DRIVER, reason);
  }

  /** The named condition is met. */
  public synchronized void markReady(String condition) {
    notReady.remove(condition);
  }

  /** The named condition is not met, for this reason. */
  public synchronized void markNotReady(String condition, String reason) {
    notReady.put(condition, reason == null || reason.isBlank() ? "not ready" : reason);
  }
}
