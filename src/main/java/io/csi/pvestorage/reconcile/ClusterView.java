package io.csi.pvestorage.reconcile;

/** Reads this driver's PersistentVolumes and VolumeSnapshotContents. Read-only. */
public interface ClusterView {

  /**
   * Reads every PersistentVolume and VolumeSnapshotContent of this driver.
   *
   * @throws ClusterReadException when either cannot be read completely (API unreachable,
   *     permission denied, a malformed answer)
   */
  ClusterObjects read();

  /** The API could not be read; nothing may be concluded from it. */
  final class ClusterReadException extends RuntimeException {
    public ClusterReadException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
