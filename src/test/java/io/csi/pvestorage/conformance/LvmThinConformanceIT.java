package io.csi.pvestorage.conformance;

/** The conformance suite on an LVM-thin storage (thin LVs, ext4 for mount access). */
class LvmThinConformanceIT extends CsiConformanceSuite {

  @Override
  Backend backend() {
    return Backend.LVM_THIN;
  }
}
