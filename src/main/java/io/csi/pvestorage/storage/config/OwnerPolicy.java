package io.csi.pvestorage.storage.config;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;

/**
 * Which owner IDs the driver may put into volume names ({@code vm-<owner>-...}).
 *
 * <p>Proxmox VE reads the owner of a volume name as a guest ID: {@code pvesm list}, the guest's
 * hardware view and, decisively, removing a guest with "destroy unreferenced disks" all treat
 * {@code vm-123-pvc-...} as a disk of guest 123. PVE gives guests IDs from {@value
 * #FIRST_GUEST_ID} up (0 to 99 are never guests), so an owner of 100 or more lets a guest's
 * removal delete a Kubernetes volume. Such owners are refused unless the operator allows them
 * explicitly ({@value #FLAG}), e.g. on a host where PVE is not used for guests at all.
 *
 * @param allowGuestIds whether owners of {@value #FIRST_GUEST_ID} and above are allowed
 */
public record OwnerPolicy(boolean allowGuestIds) {

  /** The lowest ID PVE gives a guest. */
  public static final long FIRST_GUEST_ID = 100;

  /** The flag that allows guest IDs as owners. */
  public static final String FLAG = "--allow-guest-owners";

  /** Guest IDs refused: the safe default. */
  public static final OwnerPolicy DEFAULT = new OwnerPolicy(false);

  /** Whether an owner ID is one PVE may give a guest. */
  public static boolean isGuestId(long owner) {
    return owner >= FIRST_GUEST_ID;
  }

  /**
   * Refuses an owner that is a possible guest ID, unless allowed.
   *
   * @param what how the message names the setting, e.g. {@code StorageClass parameter owner=100}
   * @throws StorageException INVALID saying why and what allows it
   */
  public void check(long owner, String what) {
    if (isGuestId(owner) && !allowGuestIds) {
      throw new StorageException(ErrorKind.INVALID, what + " is a possible Proxmox VE guest ID ("
          + FIRST_GUEST_ID + " and above): PVE counts volume vm-" + owner + "-... as a disk of "
          + "guest " + owner + ", and removing that guest with 'destroy unreferenced disks' "
          + "deletes the volume. Use an owner from 0 to " + (FIRST_GUEST_ID - 1) + ", or start "
          + "the driver with " + FLAG + " (chart value pve.allowGuestOwners) if no guest can "
          + "ever have this ID");
    }
  }
}
