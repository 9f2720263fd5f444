package io.csi.pvestorage.storage.config;

import java.util.Set;

/**
 * One storage of the storage configuration that this driver can serve: an LVM-thin pool or a
 * ZFS pool, with the options common to both.
 */
public sealed interface StorageDefinition permits LvmThinStorage, ZfsPoolStorage {

  /** The storage ID, e.g. {@code local-lvm}; the prefix of every volume ID on it. */
  String storeId();

  /** Options shared by both storage types. */
  CommonOptions common();

  /** The section type as written in storage.cfg ({@code lvmthin} or {@code zfspool}). */
  String type();

  /**
   * Whether this storage may be used on the given node: not disabled, and either no
   * {@code nodes} restriction or the node is listed.
   */
  default boolean availableOn(String nodeName) {
    CommonOptions c = common();
    return !c.disabled() && (c.nodes().isEmpty() || c.nodes().contains(nodeName));
  }

  /**
   * Options every storage type has.
   *
   * @param nodes nodes allowed to use the storage; empty means all
   * @param disabled whether the storage is switched off
   * @param content content types (PVE: {@code images}, {@code rootdir})
   * @param owner the owner ID put in new volume names ({@code vm-<owner>-...}); PVE lists the
   *     volumes as belonging to this VMID and numbers its own disks around them
   * @param capacity how much of the pool may be handed out
   */
  record CommonOptions(
      Set<String> nodes, boolean disabled, Set<String> content, long owner,
      CapacityPolicy capacity) {

    public CommonOptions {
      nodes = Set.copyOf(nodes);
      content = Set.copyOf(content);
    }
  }

  /**
   * The headroom policy of a pool: new volumes are refused (RESOURCE_EXHAUSTED) before the
   * pool fills up, instead of thin pools running out of space under running workloads.
   *
   * @param overcommit how many times the pool's size the sum of provisioned (virtual) volume
   *     sizes may reach; 1.0 forbids overcommit
   * @param dataLimitPercent fill level of the pool's data beyond which nothing new is allocated
   * @param metadataLimitPercent same for thin pool metadata (ignored by ZFS)
   */
  record CapacityPolicy(double overcommit, int dataLimitPercent, int metadataLimitPercent) {

    /** Defaults: no overcommit beyond 2x, stop at 90 % data and 80 % metadata. */
    public static final CapacityPolicy DEFAULT = new CapacityPolicy(2.0, 90, 80);

    public CapacityPolicy {
      if (!(overcommit >= 1.0) || overcommit > 1000) {
        throw new IllegalArgumentException("overcommit must be between 1.0 and 1000");
      }
      if (dataLimitPercent < 1 || dataLimitPercent > 100) {
        throw new IllegalArgumentException("data limit must be 1..100 percent");
      }
      if (metadataLimitPercent < 1 || metadataLimitPercent > 100) {
        throw new IllegalArgumentException("metadata limit must be 1..100 percent");
      }
    }
  }
}
