package io.csi.pvestorage.storage;

import java.util.Objects;
import java.util.Optional;

/**
 * Who a volume or snapshot belongs to, recorded on the volume itself (LV tags, ZFS user
 * properties) in the same command that creates it. It makes CreateVolume and CreateSnapshot
 * idempotent after any crash (the CSI name is found again by one listing) and tells an operator
 * which claim owns each volume.
 *
 * @param csiName the CSI request name (the idempotency key); any Unicode text up to 128 bytes
 * @param pvcNamespace the claim's namespace, when the provisioner passes it
 * @param pvcName the claim's name, when the provisioner passes it
 * @param pvName the PersistentVolume's name, when the provisioner passes it
 */
public record VolumeMetadata(
    String csiName, Optional<String> pvcNamespace, Optional<String> pvcName,
    Optional<String> pvName) {

  public VolumeMetadata {
    Objects.requireNonNull(csiName, "csiName");
    Objects.requireNonNull(pvcNamespace, "pvcNamespace");
    Objects.requireNonNull(pvcName, "pvcName");
    Objects.requireNonNull(pvName, "pvName");
  }

  /** Metadata with only the CSI name. */
  public static VolumeMetadata of(String csiName) {
    return new VolumeMetadata(csiName, Optional.empty(), Optional.empty(), Optional.empty());
  }
}
