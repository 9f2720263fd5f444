package io.csi.pvestorage.conformance;

/** The lifecycle cases against the containerised driver on a ZFS dataset (fsType zfs; block access on a zvol). */
class ZfsDatasetContainerIT extends ContainerLifecycleCases {

  @Override
  Backend backend() {
    return Backend.ZFS_DATASET;
  }
}
