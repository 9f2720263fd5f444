/**
 * Orphan reconciliation: the node plugin compares, per storage of its node, what the pools hold
 * with this driver's ownership record against the PersistentVolumes and VolumeSnapshotContents
 * of this driver, and reports (and, when asked to, removes) what no Kubernetes object accounts
 * for. See docs/operations.md ("Orphans").
 *
 * <p>Depends on {@code storage} (listings, the plugin calls of a clean-up), {@code csi} (the
 * storage lock and the in-flight guard the CSI calls share) and fabric8 (the read-only API
 * view and the Events); nothing of gRPC.
 */
package io.csi.pvestorage.reconcile;
