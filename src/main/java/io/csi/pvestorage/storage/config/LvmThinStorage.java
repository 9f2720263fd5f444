package io.csi.pvestorage.storage.config;

import java.util.Objects;

/**
 * An {@code lvmthin} storage: thin volumes in the thin pool {@code thinPool} of the volume
 * group {@code vgName} (on a Proxmox VE host typically {@code pve/data}).
 */
public record LvmThinStorage(String storeId, String vgName, String thinPool, CommonOptions common)
    implements StorageDefinition {

  public LvmThinStorage {
    Objects.requireNonNull(storeId, "storeId");
    Objects.requireNonNull(vgName, "vgName");
    Objects.requireNonNull(thinPool, "thinPool");
    Objects.requireNonNull(common, "common");
  }

  @Override
  public String type() {
    return "lvmthin";
  }
}
