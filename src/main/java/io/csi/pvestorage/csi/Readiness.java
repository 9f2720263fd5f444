package io.csi.pvestorage.csi;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Whether the driver is ready to serve storage calls, as Probe reports it. Starts not ready
 * with a reason; set ready once the storage configuration is loaded and validated. Reading it
 * costs nothing, so Probe never runs a storage command.
 */
public final class Readiness {

  private final AtomicReference<String> notReadyReason = new AtomicReference<>("starting");

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
}
