package io.csi.pvestorage.conformance;

/** The lifecycle cases against the containerised driver on LVM-thin (thin LVs, ext4 for mount access). */
class LvmThinContainerIT extends ContainerLifecycleCases {

  @Override
  Backend backend() {
    return Backend.LVM_THIN;
  }
}
