package io.csi.pvestorage.storage;

import java.util.OptionalLong;

/**
 * Capacity of a storage's pool ({@link StoragePlugin#status}), in bytes.
 *
 * @param totalBytes the pool's data size (thin pool size; ZFS available + used)
 * @param usedBytes data actually written
 * @param availableBytes {@code totalBytes - usedBytes} as the tool reports it
 * @param provisionedBytes the sum of provisioned sizes of all volumes in the pool
 * @param metadataTotalBytes thin pool metadata size (LVM only)
 * @param metadataUsedBytes thin pool metadata in use (LVM only)
 * @param allocatableBytes what can still be handed out to new volumes under the storage's
 *     capacity policy (overcommit, data and metadata limits); 0 when a limit is reached. This
 *     is what GetCapacity reports and what CreateVolume checks before it creates anything
 * @param active whether the pool is active/imported
 */
public record PoolStatus(
    long totalBytes,
    long usedBytes,
    long availableBytes,
    long provisionedBytes,
    OptionalLong metadataTotalBytes,
    OptionalLong metadataUsedBytes,
    long allocatableBytes,
    boolean active) {}
