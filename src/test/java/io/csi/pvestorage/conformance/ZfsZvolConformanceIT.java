package io.csi.pvestorage.conformance;

/** The conformance suite on a zfspool storage with zvols (ext4 on a zvol for mount access). */
class ZfsZvolConformanceIT extends CsiConformanceSuite {

  @Override
  Backend backend() {
    return Backend.ZFS_ZVOL;
  }
}
