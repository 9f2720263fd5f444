package io.csi.pvestorage.conformance;

/** The conformance suite on a zfspool storage with datasets ({@code fsType: zfs}, no block). */
class ZfsDatasetConformanceIT extends CsiConformanceSuite {

  @Override
  Backend backend() {
    return Backend.ZFS_DATASET;
  }
}
