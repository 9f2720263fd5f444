package io.csi.pvestorage.conformance;

/**
 * The conformance suite: every case of every area, for the backend a subclass names. One
 * subclass per backend is an {@code *IT} class, run by failsafe against the driver in the VM.
 */
abstract class CsiConformanceSuite extends SnapshotCases {
}
