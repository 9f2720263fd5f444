package io.csi.pvestorage.conformance;

/** The lifecycle cases against the containerised driver on a ZFS zvol (ext4 for mount access). */
class ZfsZvolContainerIT extends ContainerLifecycleCases {

  @Override
  Backend backend() {
    return Backend.ZFS_ZVOL;
  }
}
