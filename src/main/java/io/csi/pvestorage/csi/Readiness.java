package io.csi.pvestorage.csi;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Whether the driver is ready, in two degrees.
 *
 * <ul>
 *   <li><b>Serving</b> ({@link #isReady()}): the storage configuration is loaded and the lock has
 *       started, and the driver is not shutting down. Probe and {@code /healthz} report it.
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

  private final AtomicReference<String> notReadyReason = new AtomicReference<>("starting");
  private final List<Supplier<Optional<String>>> conditions = new CopyOnWriteArrayList<>();

  public boolean isReady() {
    return notReadyReason.get() == null;
  }

  /** Why not ready, or null when ready. */
  public String reason() {
    return notReadyReason.get();
  }

  public void markReady() {
    notReadyReason.set(null);
  }

  public void markNotReady(String reason) {
    notReadyReason.set(reason == null || reason.isBlank() ? "not ready" : reason);
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
    String reason = notReadyReason.get();
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
