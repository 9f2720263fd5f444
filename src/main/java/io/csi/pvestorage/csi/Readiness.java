package io.csi.pvestorage.csi;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * Whether the driver is ready, in two degrees.
 *
 * <ul>
 *   <li><b>Serving</b> ({@link #isReady()}): none of the named conditions that start-up work
 *       sets independently (the storage lock, the tool check, shutdown) holds a reason. Probe and
 *       {@code /healthz} report it. The unnamed {@link #markReady()} and {@link
 *       #markNotReady(String)} act on the driver's own start-up condition, which starts not
 *       ready.
 *   <li><b>Ready for new work</b> ({@link #notReadyForWork()}): serving, and no condition added
 *       with {@link #addCondition} holds, such as a storage command that has stalled. {@code
 *       /readyz} reports it, with the reason, for the pod's readiness probe.
 * </ul>
 *
 * A stalled command does not make Probe fail on purpose: the livenessprobe sidecar turns a
 * not-ready Probe into a failed liveness check, and the container restart that follows would
 * kill the very command that must never be killed.
 *
 * <p>Reading either costs nothing, so Probe never runs a storage command.
 */
public final class Readiness {

  /** The condition of {@link #markReady()} and {@link #markNotReady(String)}. */
  private static final String DRIVER = "driver";

  /** Condition name to the reason it is not met, in the order the conditions appeared. */
  private final Map<String, String> notReady = new LinkedHashMap<>();

  private final List<Supplier<Optional<String>>> conditions = new CopyOnWriteArrayList<>();

  public Readiness() {
    notReady.put(DRIVER, "starting");
  }

  public synchronized boolean isReady() {
    return notReady.isEmpty();
  }

  /** Why not serving (every unmet condition's reason, joined by "; "), or null when serving. */
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

  /**
   * Adds a condition that, while it returns a reason, makes the driver not ready for new work
   * without making it unhealthy. It is asked on every readiness read, so it must be cheap.
   */
  public void addCondition(Supplier<Optional<String>> condition) {
    conditions.add(Objects.requireNonNull(condition, "condition"));
  }

  /**
   * Why the driver should get no new storage work now: the serving reason, else the first
   * condition that holds; empty when fully ready.
   */
  public Optional<String> notReadyForWork() {
    String reason = reason();
    if (reason != null) {
      return Optional.of(reason);
    }
    for (Supplier<Optional<String>> condition : conditions) {
      Optional<String> problem = condition.get();
      if (problem.isPresent()) {
        return problem;
      }
    }
    return Optional.empty();
  }
}
