package io.csi.pvestorage.csi;

import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeExpandVolumeResponse;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetCapabilitiesResponse;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGetInfoResponse;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodeGetVolumeStatsResponse;
import csi.v1.NodeGrpc;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodePublishVolumeResponse;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeStageVolumeResponse;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnpublishVolumeResponse;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.NodeUnstageVolumeResponse;
import csi.v1.Topology;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCondition;
import csi.v1.VolumeUsage;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.node.FileInfo;
import io.csi.pvestorage.node.FilesystemStats;
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.MountEntry;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.Volname;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The CSI Node service: makes this node's volumes usable by pods.
 *
 * <ul>
 *   <li><b>Stage</b> activates the volume, then for filesystem access mounts it at the staging
 *       path: a raw volume with ext4/xfs (made only on a device with no signature at all), a ZFS
 *       dataset by a bind of its own mountpoint. Block access stages nothing.
 *   <li><b>Publish</b> bind mounts the staged filesystem onto the target directory, or the
 *       device node onto the target file, read-only when asked.
 *   <li><b>Unpublish/Unstage</b> unmount whatever is stacked on the path and remove it.
 *   <li><b>Expand</b> grows the LV, zvol or refquota under the storage lock (the controller does
 *       not expand, so csi-resizer sends every expansion here), then the filesystem.
 *   <li><b>Stats</b> report bytes and inodes and the volume's condition.
 * </ul>
 *
 * <p>Every request is validated before any command runs; each mutating call holds the
 * per-volume {@link InFlight} claim. The OS work is {@link Mounter}'s, the storage work the
 * plugin's.
 */
public final class NodeService extends NodeGrpc.NodeImplBase {

  private final NodeStorages storages;
  private final InFlight inFlight;
  private final Mounter mounter;
  private final long maxVolumesPerNode;

  /**
   * @param storages the storages of this node and their lock
   * @param inFlight the claims shared with the Controller service of the same process
   * @param mounter the node's mount work (with the host command prefix)
   * @param maxVolumesPerNode reported by NodeGetInfo; 0 lets the CO decide
   */
  public NodeService(NodeStorages storages, InFlight inFlight, Mounter mounter,
      long maxVolumesPerNode) {
    this.storages = Objects.requireNonNull(storages, "storages");
    this.inFlight = Objects.requireNonNull(inFlight, "inFlight");
    this.mounter = Objects.requireNonNull(mounter, "mounter");
    if (maxVolumesPerNode < 0) {
      throw new IllegalArgumentException("maxVolumesPerNode must not be negative");
    }
    this.maxVolumesPerNode = maxVolumesPerNode;
  }

  @Override
  public void nodeGetInfo(NodeGetInfoRequest request,
      StreamObserver<NodeGetInfoResponse> response) {
    reply(response, NodeGetInfoResponse.newBuilder()
        .setNodeId(storages.nodeId())
        .setMaxVolumesPerNode(maxVolumesPerNode)
        .setAccessibleTopology(Topology.newBuilder()
            .putSegments(ControllerService.TOPOLOGY_KEY, storages.nodeId()))
        .build());
  }

  @Override
  public void nodeGetCapabilities(NodeGetCapabilitiesRequest request,
      StreamObserver<NodeGetCapabilitiesResponse> response) {
    reply(response, CapabilitiesOnly.nodeCapabilities());
  }

  @Override
  public void nodeStageVolume(NodeStageVolumeRequest request,
      StreamObserver<NodeStageVolumeResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath staging = HostPath.of("staging_target_path", request.getStagingTargetPath());
    Volume volume = volume(id, request.hasVolumeCapability(), request.getVolumeCapability(),
        Optional.ofNullable(request.getVolumeContextMap().get("fsType")));
    try (var claim = inFlight.enter("volume", id.toString())) {
      requireExists(volume.plugin(), id);
      volume.plugin().activateVolume(id.volname(), Optional.empty());
      HostPath path = HostPath.of(volume.plugin().path(id.volname(), Optional.empty()));
      if (volume.access().block()) {
        mounter.blockDevice(path);
      } else if (volume.access().format() == ImageFormat.SUBVOL) {
        mounter.bindFilesystem(path, staging, volume.readOnly());
      } else {
        List<String> options = new ArrayList<>(
            request.getVolumeCapability().getMount().getMountFlagsList());
        if (volume.readOnly() && !options.contains("ro")) {
          options.add("ro");
        }
        mounter.mountDevice(path, staging, volume.access().fsType().orElseThrow(), options);
      }
    }
    reply(response, NodeStageVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodeUnstageVolume(NodeUnstageVolumeRequest request,
      StreamObserver<NodeUnstageVolumeResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath staging = HostPath.of("staging_target_path", request.getStagingTargetPath());
    try (var claim = inFlight.enter("volume", id.toString())) {
      mounter.unmountAndRemove(staging);
      // Ordinary volumes stay active (a no-op); bases and snapshots are put back to rest.
      storages.find(id.storeId()).ifPresent(p -> p.deactivateVolume(id.volname(), Optional.empty()));
    }
    reply(response, NodeUnstageVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodePublishVolume(NodePublishVolumeRequest request,
      StreamObserver<NodePublishVolumeResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath target = HostPath.of("target_path", request.getTargetPath());
    if (request.getStagingTargetPath().isEmpty()) {
      throw new StorageException(ErrorKind.PRECONDITION, "staging_target_path is not set: this "
          + "driver stages volumes (STAGE_UNSTAGE_VOLUME); call NodeStageVolume first");
    }
    HostPath staging = HostPath.of("staging_target_path", request.getStagingTargetPath());
    Volume volume = volume(id, request.hasVolumeCapability(), request.getVolumeCapability(),
        Optional.ofNullable(request.getVolumeContextMap().get("fsType")));
    boolean readOnly = request.getReadonly() || volume.readOnly();
    try (var claim = inFlight.enter("volume", id.toString())) {
      requireExists(volume.plugin(), id);
      if (volume.access().block()) {
        HostPath device = HostPath.of(volume.plugin().path(id.volname(), Optional.empty()));
        mounter.bindBlockDevice(device, target, readOnly);
      } else {
        mounter.bindFilesystem(staging, target, readOnly);
      }
    }
    reply(response, NodePublishVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodeUnpublishVolume(NodeUnpublishVolumeRequest request,
      StreamObserver<NodeUnpublishVolumeResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath target = HostPath.of("target_path", request.getTargetPath());
    try (var claim = inFlight.enter("volume", id.toString())) {
      mounter.unmountAndRemove(target);
    }
    reply(response, NodeUnpublishVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodeGetVolumeStats(NodeGetVolumeStatsRequest request,
      StreamObserver<NodeGetVolumeStatsResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath path = HostPath.of("volume_path", request.getVolumePath());
    StoragePlugin plugin = storages.of(id);
    plugin.parseVolname(id.volname());
    FileInfo info = mounter.inspect(path).orElseThrow(() -> new StorageException(
        ErrorKind.NOT_FOUND, "volume_path " + path + " does not exist on node "
            + storages.nodeId()));
    NodeGetVolumeStatsResponse.Builder stats = NodeGetVolumeStatsResponse.newBuilder();
    Optional<String> missing = missing(plugin, id);
    boolean gone = missing.isPresent();
    List<String> problems = new ArrayList<>(backingProblems(plugin, missing));
    if (info.type() == FileInfo.Type.BLOCK_DEVICE) {
      stats.addUsage(usage(VolumeUsage.Unit.BYTES, mounter.blockDeviceSize(path), -1, -1));
    } else {
      Optional<MountEntry> mount = mounter.mounts().top(path);
      if (mount.isEmpty() && gone) {
        throw new StorageException(ErrorKind.NOT_FOUND, "volume " + id + " does not exist and "
            + "nothing is mounted at " + path);
      }
      if (mount.isPresent() && !gone && !holds(mount.get(), plugin, id)) {
        throw new StorageException(ErrorKind.NOT_FOUND, "volume " + id + " is not at " + path
            + ": " + mount.get().describe());
      }
      if (mount.isEmpty()) {
        problems.add(path + " is not mounted");
      } else {
        if (mount.get().forcedReadOnly()) {
          problems.add("the filesystem was made read-only by the kernel (errors); see the "
              + "node's kernel log");
        }
        FilesystemStats fs = mounter.filesystemStats(path);
        stats.addUsage(usage(VolumeUsage.Unit.BYTES, fs.totalBytes(), fs.availableBytes(),
            fs.usedBytes()));
        stats.addUsage(usage(VolumeUsage.Unit.INODES, fs.totalInodes(), fs.freeInodes(),
            fs.usedInodes()));
      }
    }
    stats.setVolumeCondition(VolumeCondition.newBuilder()
        .setAbnormal(!problems.isEmpty())
        .setMessage(problems.isEmpty() ? "volume is healthy" : String.join("; ", problems)));
    reply(response, stats.build());
  }

  @Override
  public void nodeExpandVolume(NodeExpandVolumeRequest request,
      StreamObserver<NodeExpandVolumeResponse> response) {
    VolumeId id = volumeId(request.getVolumeId());
    HostPath path = HostPath.of("volume_path", request.getVolumePath());
    long required = request.getCapacityRange().getRequiredBytes();
    long limit = request.getCapacityRange().getLimitBytes();
    if (required < 0 || limit < 0) {
      throw new StorageException(ErrorKind.INVALID,
          "capacity_range bytes must not be negative");
    }
    if (limit > 0 && required > limit) {
      throw new StorageException(ErrorKind.INVALID, "capacity_range.required_bytes (" + required
          + ") is larger than capacity_range.limit_bytes (" + limit + ")");
    }
    StoragePlugin plugin = storages.of(id);
    ImageFormat format = plugin.parseVolname(id.volname()).format();
    boolean blockCapability = request.hasVolumeCapability()
        && request.getVolumeCapability().hasBlock();
    long capacity;
    try (var claim = inFlight.enter("volume", id.toString())) {
      long current = plugin.volumeSizeInfo(id.volname()).sizeBytes();
      if (limit > 0 && current > limit) {
        throw new StorageException(ErrorKind.OUT_OF_RANGE, "volume " + id + " already has "
            + current + " bytes, more than capacity_range.limit_bytes " + limit
            + "; volumes never shrink");
      }
      long wanted = Math.max(required, current);
      long size = wanted > current
          ? storages.locked(plugin, "resize", id.toString(),
              () -> plugin.volumeResize(id.volname(), wanted))
          : current;
      capacity = format == ImageFormat.SUBVOL ? size
          : growOnDevice(plugin, id, path, blockCapability);
    }
    reply(response, NodeExpandVolumeResponse.newBuilder().setCapacityBytes(capacity).build());
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** A validated volume of a stage or publish request. */
  private record Volume(StoragePlugin plugin, VolumeAccess access, boolean readOnly) {}

  private Volume volume(VolumeId id, boolean hasCapability, VolumeCapability capability,
      Optional<String> contextFsType) {
    if (!hasCapability) {
      throw new StorageException(ErrorKind.INVALID, "volume_capability is required");
    }
    StoragePlugin plugin = storages.of(id);
    ImageFormat format = plugin.parseVolname(id.volname()).format();
    VolumeAccess access = VolumeAccess.of(List.of(capability), contextFsType, plugin.type());
    if (access.format() != format) {
      throw new StorageException(ErrorKind.PRECONDITION, "volume " + id + " is a "
          + format.pveName() + " volume and cannot be used as "
          + (access.block() ? "a block device" : "fsType " + access.fsType().orElse("?"))
          + (format == ImageFormat.SUBVOL ? "; a dataset is mounted with fsType zfs"
              : "; a raw volume is used as a block device or with ext4/xfs"));
    }
    boolean readOnly = capability.getAccessMode().getMode()
        == VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY;
    return new Volume(plugin, access, readOnly);
  }

  /** Grows the filesystem on a raw volume's device (not for block use); its size in bytes. */
  private long growOnDevice(StoragePlugin plugin, VolumeId id, HostPath path,
      boolean blockCapability) {
    HostPath device = HostPath.of(plugin.path(id.volname(), Optional.empty()));
    boolean block = blockCapability || mounter.inspect(path)
        .map(i -> i.type() == FileInfo.Type.BLOCK_DEVICE).orElse(false);
    if (!block) {
      MountEntry mount = mounter.mounts().top(path).orElseThrow(() -> new StorageException(
          ErrorKind.PRECONDITION, "volume_path " + path + " is not mounted; stage the volume "
              + "before expanding its filesystem"));
      if (!mount.isWholeFilesystemOf(mounter.blockDevice(device))) {
        throw new StorageException(ErrorKind.PRECONDITION, "volume_path " + path + " shows "
            + mount.describe() + ", not the volume " + id);
      }
      mounter.growFilesystem(device, path, mount.fsType());
    }
    return mounter.blockDeviceSize(device);
  }

  /** Whether a mount shows this volume: its device's filesystem, or its ZFS dataset. */
  private boolean holds(MountEntry mount, StoragePlugin plugin, VolumeId id) {
    Volname name = plugin.parseVolname(id.volname());
    if (name.format() == ImageFormat.SUBVOL) {
      return mount.fsType().equals("zfs") && mount.source().endsWith("/" + name.name());
    }
    return mount.isWholeFilesystemOf(mounter.blockDevice(
        HostPath.of(plugin.path(id.volname(), Optional.empty()))));
  }

  /** NOT_FOUND, before anything is waited for or mounted, when the volume does not exist. */
  private static void requireExists(StoragePlugin plugin, VolumeId id) {
    plugin.volumeSizeInfo(id.volname());
  }

  /** Why the volume's backing LV, zvol or dataset does not exist; empty when it does. */
  private static Optional<String> missing(StoragePlugin plugin, VolumeId id) {
    try {
      plugin.volumeSizeInfo(id.volname());
      return Optional.empty();
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.NOT_FOUND) {
        throw e;
      }
      return Optional.of(e.getMessage());
    }
  }

  /** What is wrong with the volume's backing storage, from the plugin (empty when nothing). */
  private static List<String> backingProblems(StoragePlugin plugin, Optional<String> missing) {
    List<String> problems = new ArrayList<>();
    missing.ifPresent(why -> problems.add("the backing volume is gone: " + why));
    PoolStatus pool = plugin.status();
    if (!pool.active()) {
      problems.add("storage " + plugin.storeId() + " is not active");
    } else if (pool.availableBytes() <= 0) {
      problems.add("storage " + plugin.storeId() + " is full: writes to unallocated space fail");
    }
    return problems;
  }

  private static VolumeUsage usage(VolumeUsage.Unit unit, long total, long available, long used) {
    VolumeUsage.Builder usage = VolumeUsage.newBuilder().setUnit(unit).setTotal(total);
    if (available >= 0) {
      usage.setAvailable(available).setUsed(used);
    }
    return usage.build();
  }

  private static VolumeId volumeId(String text) {
    if (text.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "volume_id is required");
    }
    return VolumeId.parse(text);
  }

  private static <T> void reply(StreamObserver<T> response, T message) {
    response.onNext(message);
    response.onCompleted();
  }
}
