package io.csi.pvestorage.reconcile;

/** Where the reconciler tells Kubernetes about a PersistentVolume (kind b). */
public interface PvEvents {

  /**
   * Records a Warning Event on {@code pv} that its volume is missing. Never throws: a failed
   * Event is logged and counted by the implementation, the report stands without it.
   */
  void volumeMissing(ClusterObjects.Pv pv, String message);

  /** Emits nothing (no API, or Events not wanted). */
  PvEvents NONE = (pv, message) -> {};
}
