package io.csi.pvestorage.lock;

import java.time.Duration;
import java.util.HexFormat;
import java.util.Objects;
import java.util.random.RandomGenerator;
import java.util.regex.Pattern;

/**
 * Configuration of {@link LeaseStorageLock}, validated once when built.
 *
 * @param namespace the driver's namespace, where the Leases live (a DNS-1123 label)
 * @param nodeName the Kubernetes node this process manages storage on; part of the Lease name,
 *     since the pools are node-local
 * @param holderIdentity who this process is, written to {@code spec.holderIdentity}; unique per
 *     process (see {@link #holderIdentity(String, RandomGenerator)})
 * @param leaseDuration how long a Lease is valid after its last renewal (whole seconds, at least
 *     2 s); a dead holder is taken over after this long
 * @param renewInterval how often a held Lease is renewed; at most half the duration, so a
 *     holder notices failing renewals ({@link LockHandle#ensureValid()} fails at the last
 *     successful renewal + duration - renew interval) before another process may take over
 * @param maxBatchHold how long one Lease acquisition may be kept for a queue of operations of
 *     this process before it is released so that other processes get their turn
 * @param retryMin first back-off while waiting for a Lease held by someone else
 * @param retryMax largest back-off while waiting (jittered); also the pause after a release
 *     forced by {@code maxBatchHold}, so that a waiting process polls at least once in it
 * @param linger how long the Lease is kept after this process's last queued operation ended,
 *     so that the next one, if it comes that soon, needs no API call; zero releases at once.
 *     Bounded by {@code maxBatchHold} like any batch: other processes wait at most that long
 */
public record LeaseLockSettings(
    String namespace,
    String nodeName,
    String holderIdentity,
    Duration leaseDuration,
    Duration renewInterval,
    Duration maxBatchHold,
    Duration retryMin,
    Duration retryMax,
    Duration linger) {

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

  /** Lease duration when not configured: as long as a Kubernetes leader-election default. */
  public static final Duration DEFAULT_LEASE_DURATION = Duration.ofSeconds(15);

  /** Renew interval when not configured. */
  public static final Duration DEFAULT_RENEW_INTERVAL = Duration.ofSeconds(5);

  /** Batch bound when not configured: PVE's own lock waits 10 s before giving up. */
  public static final Duration DEFAULT_MAX_BATCH_HOLD = Duration.ofSeconds(5);

  /**
   * Linger when not configured: long enough for the provisioner's next request of a burst
   * (a StatefulSet's claims, a restore of many snapshots) to find the Lease still held.
   */
  public static final Duration DEFAULT_LINGER = Duration.ofSeconds(1);

  public LeaseLockSettings {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(nodeName, "nodeName");
    Objects.requireNonNull(holderIdentity, "holderIdentity");
    Objects.requireNonNull(leaseDuration, "leaseDuration");
    Objects.requireNonNull(renewInterval, "renewInterval");
    Objects.requireNonNull(maxBatchHold, "maxBatchHold");
    Objects.requireNonNull(retryMin, "retryMin");
    Objects.requireNonNull(retryMax, "retryMax");
    Objects.requireNonNull(linger, "linger");
    if (!DNS_LABEL.matcher(namespace).matches()) {
      throw new IllegalArgumentException("lock namespace is not a DNS-1123 label: '" + namespace + "'");
    }
    if (nodeName.isBlank()) {
      throw new IllegalArgumentException("lock node name is empty");
    }
    if (holderIdentity.isBlank() || holderIdentity.length() > 253) {
      throw new IllegalArgumentException("lock holder identity must have 1 to 253 characters");
    }
    if (leaseDuration.compareTo(Duration.ofSeconds(2)) < 0
        || leaseDuration.toNanosPart() != 0
        || leaseDuration.toSeconds() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "lease duration must be whole seconds, at least 2 s: " + leaseDuration);
    }
    if (renewInterval.isNegative()
        || renewInterval.isZero()
        || renewInterval.multipliedBy(2).compareTo(leaseDuration) > 0) {
      throw new IllegalArgumentException(
          "renew interval must be positive and at most half the lease duration ("
              + leaseDuration
              + "): "
              + renewInterval);
    }
    if (maxBatchHold.isNegative() || maxBatchHold.isZero()) {
      throw new IllegalArgumentException("max batch hold must be positive: " + maxBatchHold);
    }
    if (retryMin.isNegative() || retryMin.isZero() || retryMax.compareTo(retryMin) < 0) {
      throw new IllegalArgumentException(
          "retry back-off must satisfy 0 < min <= max: " + retryMin + ", " + retryMax);
    }
    if (retryMax.compareTo(renewInterval) > 0) {
      throw new IllegalArgumentException(
          "retry back-off max must not exceed the renew interval: " + retryMax);
    }
    if (linger.isNegative() || linger.compareTo(maxBatchHold) >= 0) {
      throw new IllegalArgumentException(
          "linger must be at least 0 and shorter than the max batch hold (" + maxBatchHold
              + "): " + linger);
    }
  }

  /**
   * Settings with the default timings (15 s lease, 5 s renewal and batch bound, 20-250 ms
   * back-off, 1 s linger).
   */
  public static LeaseLockSettings defaults(String namespace, String nodeName, String holderIdentity) {
    return new LeaseLockSettings(
        namespace,
        nodeName,
        holderIdentity,
        DEFAULT_LEASE_DURATION,
        DEFAULT_RENEW_INTERVAL,
        DEFAULT_MAX_BATCH_HOLD,
        Duration.ofMillis(20),
        Duration.ofMillis(250),
        DEFAULT_LINGER);
  }

  /**
   * A holder identity for this process: the pod name (from {@code HOSTNAME} in a pod) and a
   * random per-process suffix, because a restarted container keeps its pod name and often PID 1,
   * and must not mistake the Lease of its dead predecessor for its own.
   */
  public static String holderIdentity(String podName, RandomGenerator random) {
    Objects.requireNonNull(podName, "podName");
    byte[] id = new byte[4];
    random.nextBytes(id);
    return (podName.isBlank() ? "unknown" : podName) + "_" + HexFormat.of().formatHex(id);
  }

  /** The Lease name for one storage of this node: see {@link LeaseNames#leaseName}. */
  public String leaseName(String storeid) {
    return LeaseNames.leaseName(nodeName, storeid);
  }
}
