package io.csi.pvestorage.conformance;

/**
 * The conformance suite: every case of every area (inherited, the whole life of a volume with
 * real data for mount and block access included). One subclass per backend is an {@code *IT}
 * class, run by failsafe against the driver in the VM.
 */
abstract class CsiConformanceSuite extends NodeCases {}
