package io.csi.pvestorage.reconcile;

import java.util.Locale;

/** What kind of mismatch between a pool and the cluster an {@link Orphan} is. */
public enum OrphanKind {
  /** (a) A volume this driver made that no PersistentVolume names. Clean-up may delete it. */
  VOLUME_WITHOUT_PV,
  /** (b) A PersistentVolume of this node whose volume is not in the pool. Only ever reported. */
  PV_WITHOUT_VOLUME,
  /**
   * (c) A snapshot this driver made that no VolumeSnapshotContent names. Clean-up may delete it.
   */
  SNAPSHOT_WITHOUT_CONTENT,
  /**
   * (d) A deleted volume the pool keeps until its last snapshot or clone goes (ZFS). Not a
   * fault by itself; reported so that the space it holds is visible.
   */
  HIDDEN_VOLUME;

  /** The metric label and table word: {@code volume-without-pv}, ... */
  public String label() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
