package io.csi.pvestorage.conformance;

/**
 * The conformance suite: every case of every area (inherited, the whole life of a volume with
 * real data for mount and block access included), once per backend in {@link ConformanceIT}.
 */
abstract class CsiConformanceSuite extends NodeCases {}
