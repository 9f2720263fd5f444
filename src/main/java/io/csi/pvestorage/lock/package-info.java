/**
 * The storage lock: every mutating storage call runs under {@link
 * io.csi.pvestorage.lock.StorageLock}, per storage, as Proxmox VE's {@code cluster_lock_storage}.
 *
 * <p>{@link io.csi.pvestorage.lock.LeaseStorageLock} uses a {@code coordination.k8s.io/v1} Lease
 * per (node, storage) so that all processes of a node exclude each other and operators can see
 * the holder; {@link io.csi.pvestorage.lock.LocalStorageLock} does without Kubernetes. Both queue
 * callers of one process fairly first, and can also take PVE's own flock ({@link
 * io.csi.pvestorage.lock.PveFlock}). Imports: fabric8 and {@code io.csi.pvestorage.error} only.
 * Overview for operators: {@code src/site/markdown/lock.md}.
 */
package io.csi.pvestorage.lock;
