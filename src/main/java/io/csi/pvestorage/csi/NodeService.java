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
import io.csi.pvestorage.exec.Secret;
import io.csi.pvestorage.node.FileInfo;
import io.csi.pvestorage.node.FilesystemStats;
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.KubeletDir;
import io.csi.pvestorage.node.MountEntry;
import io.csi.pvestorage.node.MountFlags;
import io.csi.pvestorage.node.MountTable;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.node.Printable;
import io.csi.pvestorage.node.VolumeSource;
import io.csi.pvestorage.node.crypt.Encryption;
import io.csi.pvestorage.node.crypt.EncryptionKey;
import io.csi.pvestorage.node.crypt.LuksDevices;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.Volname;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The CSI Node service: makes this node's volumes usable by pods.
 *
 * <ul>
 *   <li><b>Stage</b> activates the volume, then for filesystem access mounts it at the staging
 *       path: a raw volume with ext4/xfs (made only on a probed, readable device with no
 *       signature at all) and grown to its device when the device is larger (a restore or clone
 *       into a larger volume), a ZFS dataset by a bind of its own mountpoint. Block access stages
 *       nothing.
 *   <li><b>Publish</b> bind mounts the staged filesystem onto the target directory, or the
 *       device node onto the target file, read-only when asked.
 *   <li><b>Unpublish/Unstage</b> unmount the volume's own mounts at the path, and nothing else;
 *       unpublish removes the target it created (unstage leaves the CO's staging directory).
 *   <li><b>Expand</b> grows the LV, zvol or refquota under the storage lock (the controller does
 *       not expand, so csi-resizer sends every expansion here), then the filesystem.
 *   <li><b>Stats</b> report bytes and inodes and the volume's condition.
 * </ul>
 *
 * <p>What the node acts on: stage, publish and expand take only volumes that carry this
 * driver's ownership (the CSI name recorded at CreateVolume); a volume ID the driver could never
 * have issued is a volume that does not exist (NOT_FOUND), and a volume it did not make (a
 * Proxmox guest disk) is FAILED_PRECONDITION, both before any command that changes anything.
 * Order of the checks: required fields (INVALID_ARGUMENT), the volume ID, the capability and
 * flags, the volume's existence and ownership (one read-only listing), then the paths; so a
 * volume that does not exist is NOT_FOUND whatever paths the request names.
 * Every path must lie below the kubelet directory ({@link KubeletDir}); mount flags come from
 * an allow-list ({@link MountFlags}). Every request is validated before any command runs; each
 * mutating call holds the per-volume {@link InFlight} claim. The OS work is {@link Mounter}'s,
 * the storage work the plugin's.
 *
 * <p>Encryption (volume context {@code encryption}, issue 18): a {@code luks2} volume is opened
 * at stage with the node-stage secret ({@link LuksDevices}; a blank device is formatted first)
 * and everything else (filesystem, block node, expansion, stats) uses the opened mapping;
 * unstage closes it. The mapping's name follows from the volume ID, so the calls without a
 * volume context (unstage, unpublish, expand) find it.
 */
public final class NodeService extends NodeGrpc.NodeImplBase {

  private final NodeStorages storages;
  private final InFlight inFlight;
  private final Mounter mounter;
  private final KubeletDir kubelet;
  private final long maxVolumesPerNode;
  private final LuksDevices luks;

  /** The StorageClass parameters naming the Secrets of stage and expansion, for messages. */
  static final String STAGE_SECRET = "csi.storage.k8s.io/node-stage-secret-name";
  static final String EXPAND_SECRET = "csi.storage.k8s.io/node-expand-secret-name";

  /** How long a cryptsetup command may take before it counts as stalled (key derivation). */
  private static final Duration CRYPTSETUP_TIMEOUT = Duration.ofMinutes(2);

  /**
   * @param storages the storages of this node and their lock
   * @param inFlight the claims shared with the Controller service of the same process
   * @param mounter the node's mount work (with the host command prefix)
   * @param kubelet the kubelet directory every request path must lie below
   * @param maxVolumesPerNode reported by NodeGetInfo; 0 lets the CO decide
   */
  public NodeService(NodeStorages storages, InFlight inFlight, Mounter mounter,
      KubeletDir kubelet, long maxVolumesPerNode) {
    this.storages = Objects.requireNonNull(storages, "storages");
    this.inFlight = Objects.requireNonNull(inFlight, "inFlight");
    this.mounter = Objects.requireNonNull(mounter, "mounter");
    this.kubelet = Objects.requireNonNull(kubelet, "kubelet");
    if (maxVolumesPerNode < 0) {
      throw new IllegalArgumentException("maxVolumesPerNode must not be negative");
    }
    this.maxVolumesPerNode = maxVolumesPerNode;
    this.luks = new LuksDevices(mounter.runner(), mounter, CRYPTSETUP_TIMEOUT);
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
    String idText = required("volume_id", request.getVolumeId());
    required("staging_target_path", request.getStagingTargetPath());
    requireCapability(request.hasVolumeCapability());
    KnownVolume volume = known(idText);
    Usage usage = usage(volume, request.getVolumeCapability(),
        Optional.ofNullable(request.getVolumeContextMap().get("fsType")));
    Encryption encryption = encryption(volume, request.getVolumeContextMap());
    Optional<Secret> key = encryption == Encryption.LUKS2
        ? Optional.of(EncryptionKey.from(request.getSecretsMap(), STAGE_SECRET,
            volume.id().toString()))
        : Optional.empty();
    requireOwned(volume);
    KubeletDir.Field stagingField = kubelet.check("staging_target_path",
        request.getStagingTargetPath(), ErrorKind.INVALID);
    HostPath staging = kubelet.confine(mounter, ErrorKind.INVALID, stagingField).get(0);
    try (var claim = inFlight.enter("volume", volume.id().toString())) {
      volume.plugin().activateVolume(volume.id().volname(), Optional.empty());
      if (key.isEmpty()) {
        stageOn(volume, volume.path(), staging, usage);
      } else {
        stageEncrypted(volume, key.get(), staging, usage);
      }
    }
    reply(response, NodeStageVolumeResponse.getDefaultInstance());
  }

  /** Stage's OS work on the device that holds the data (the raw device or opened mapping). */
  private void stageOn(KnownVolume volume, HostPath device, HostPath staging, Usage usage) {
    if (usage.access().block()) {
      mounter.blockDevice(device);
    } else if (volume.name().format() == ImageFormat.SUBVOL) {
      mounter.bindFilesystem(volume.path(), staging, volume.source(), usage.flags());
    } else {
      String fsType = usage.access().fsType().orElseThrow();
      Mounter.DeviceMount mounted = mounter.mountDevice(device, staging, fsType, usage.flags());
      // A restore or clone larger than its source arrives with the source's filesystem, and
      // no CO expands a new volume: grow it here, as Kubernetes' own mount code does. A new
      // filesystem fills its device already; a read-only one is never changed.
      if (mounted != Mounter.DeviceMount.FORMATTED && !usage.readOnly()) {
        mounter.growToDevice(device, staging, fsType);
      }
    }
  }

  /**
   * Opens (formatting a blank device first) the volume's LUKS2 container, then stages its
   * mapping. When this call opened it and a later step fails, it closes it again, so a failed
   * stage leaves nothing open; the retry starts over.
   */
  private void stageEncrypted(KnownVolume volume, Secret key, HostPath staging, Usage usage) {
    String name = volume.mapperName();
    String id = volume.id().toString();
    boolean opened = luks.open(volume.path(), name, key, id, STAGE_SECRET);
    try {
      stageOn(volume, LuksDevices.mapperPath(name), staging, usage);
    } catch (RuntimeException e) {
      if (opened) {
        try {
          luks.close(name, id);
        } catch (RuntimeException closing) {
          e.addSuppressed(closing);
        }
      }
      throw e;
    }
  }

  @Override
  public void nodeUnstageVolume(NodeUnstageVolumeRequest request,
      StreamObserver<NodeUnstageVolumeResponse> response) {
    String idText = required("volume_id", request.getVolumeId());
    KubeletDir.Field stagingField = kubelet.check("staging_target_path",
        request.getStagingTargetPath(), ErrorKind.INVALID);
    Optional<KnownVolume> volume = find(idText);
    HostPath staging = kubelet.confine(mounter, ErrorKind.INVALID, stagingField).get(0);
    try (var claim = inFlight.enter("volume", claimKey(volume, idText))) {
      mounter.unmount(staging, source(volume, idText));
      // An encrypted raw volume's mapping is closed once nothing is mounted from it; a crash
      // after the unmount leaves it open, and the retry finds nothing mounted and closes it.
      if (volume.isPresent() && volume.get().name().format() != ImageFormat.SUBVOL) {
        luks.close(volume.get().mapperName(), volume.get().id().toString());
      }
      // The staging directory is the CO's (the spec has the CO create it), so it stays.
      // Ordinary volumes stay active (no command); a base of this driver is put back to rest,
      // and nothing the driver did not make is deactivated.
      if (volume.isPresent() && volume.get().name().isBase() && owned(volume.get())) {
        volume.get().plugin().deactivateVolume(volume.get().id().volname(), Optional.empty());
      }
    }
    reply(response, NodeUnstageVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodePublishVolume(NodePublishVolumeRequest request,
      StreamObserver<NodePublishVolumeResponse> response) {
    String idText = required("volume_id", request.getVolumeId());
    required("target_path", request.getTargetPath());
    requireCapability(request.hasVolumeCapability());
    KnownVolume volume = known(idText);
    if (request.getStagingTargetPath().isEmpty()) {
      throw new StorageException(ErrorKind.PRECONDITION, "staging_target_path is not set: this "
          + "driver stages volumes (STAGE_UNSTAGE_VOLUME); call NodeStageVolume first");
    }
    Usage usage = usage(volume, request.getVolumeCapability(),
        Optional.ofNullable(request.getVolumeContextMap().get("fsType")));
    requireOwned(volume);
    KubeletDir.Field targetField = kubelet.check("target_path", request.getTargetPath(),
        ErrorKind.INVALID);
    KubeletDir.Field stagingField = kubelet.check("staging_target_path",
        request.getStagingTargetPath(), ErrorKind.INVALID);
    boolean readOnly = request.getReadonly() || usage.readOnly();
    List<HostPath> paths = kubelet.confine(mounter, ErrorKind.INVALID, targetField,
        stagingField);
    HostPath target = paths.get(0);
    HostPath staging = paths.get(1);
    try (var claim = inFlight.enter("volume", volume.id().toString())) {
      if (usage.access().block()) {
        HostPath device = encryption(volume, request.getVolumeContextMap()) == Encryption.LUKS2
            ? LuksDevices.mapperPath(volume.mapperName()) : volume.path();
        mounter.bindBlockDevice(device, target, readOnly);
      } else {
        mounter.bindFilesystem(staging, target, volume.source(),
            readOnly ? List.of("ro") : List.of());
      }
    }
    reply(response, NodePublishVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodeUnpublishVolume(NodeUnpublishVolumeRequest request,
      StreamObserver<NodeUnpublishVolumeResponse> response) {
    String idText = required("volume_id", request.getVolumeId());
    KubeletDir.Field targetField = kubelet.check("target_path", request.getTargetPath(),
        ErrorKind.INVALID);
    Optional<KnownVolume> volume = find(idText);
    HostPath target = kubelet.confine(mounter, ErrorKind.INVALID, targetField).get(0);
    try (var claim = inFlight.enter("volume", claimKey(volume, idText))) {
      mounter.unmount(target, source(volume, idText));
      // The spec has the plugin create the target and delete what it created.
      mounter.removeTarget(target);
    }
    reply(response, NodeUnpublishVolumeResponse.getDefaultInstance());
  }

  @Override
  public void nodeGetVolumeStats(NodeGetVolumeStatsRequest request,
      StreamObserver<NodeGetVolumeStatsResponse> response) {
    String idText = required("volume_id", request.getVolumeId());
    required("volume_path", request.getVolumePath());
    KnownVolume volume = known(idText);
    // A path that is not a volume path of this driver is, in the spec's words, not found.
    KubeletDir.Field pathField = kubelet.check("volume_path", request.getVolumePath(),
        ErrorKind.NOT_FOUND);
    VolumeId id = volume.id();
    StoragePlugin plugin = volume.plugin();
    HostPath path = kubelet.confine(mounter, ErrorKind.NOT_FOUND, pathField).get(0);
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
      MountTable table = mounter.mounts();
      Optional<MountEntry> mount = table.top(path);
      if (mount.isEmpty() && gone) {
        throw new StorageException(ErrorKind.NOT_FOUND, "volume " + id + " does not exist and "
            + "nothing is mounted at " + path);
      }
      if (mount.isPresent() && !gone && !mounter.holds(mount.get(), path, volume.source(),
          table)) {
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
    String idText = required("volume_id", request.getVolumeId());
    required("volume_path", request.getVolumePath());
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
    KnownVolume volume = known(idText);
    long current = requireOwned(volume).sizeBytes();
    KubeletDir.Field pathField = kubelet.check("volume_path", request.getVolumePath(),
        ErrorKind.INVALID);
    VolumeId id = volume.id();
    StoragePlugin plugin = volume.plugin();
    boolean blockCapability = request.hasVolumeCapability()
        && request.getVolumeCapability().hasBlock();
    HostPath path = kubelet.confine(mounter, ErrorKind.INVALID, pathField).get(0);
    long capacity;
    try (var claim = inFlight.enter("volume", id.toString())) {
      if (limit > 0 && current > limit) {
        throw new StorageException(ErrorKind.OUT_OF_RANGE, "volume " + id + " already has "
            + current + " bytes, more than capacity_range.limit_bytes " + limit
            + "; volumes never shrink");
      }
      // An open LUKS2 mapping grows with its device, which needs the passphrase: known before
      // the volume grows, so a missing secret changes nothing. It is resized even when the
      // volume has its size already: a retry after a crash between the two steps.
      boolean encrypted = volume.name().format() != ImageFormat.SUBVOL
          && luks.isOpen(volume.mapperName());
      Optional<Secret> key = encrypted
          ? Optional.of(EncryptionKey.from(request.getSecretsMap(), EXPAND_SECRET, id.toString()))
          : Optional.empty();
      long wanted = Math.max(required, current);
      long size = wanted > current
          ? storages.locked(plugin, "resize", id.toString(),
              () -> plugin.volumeResize(id.volname(), wanted))
          : current;
      if (key.isPresent()) {
        luks.resize(volume.mapperName(), key.get(), id.toString(), EXPAND_SECRET);
      }
      capacity = volume.name().format() == ImageFormat.SUBVOL ? size
          : growOnDevice(volume, key.isPresent() ? LuksDevices.mapperPath(volume.mapperName())
              : volume.path(), path, blockCapability);
    }
    reply(response, NodeExpandVolumeResponse.newBuilder().setCapacityBytes(capacity).build());
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * A volume ID this node could have issued: its storage is served here and its name is one of
   * that storage's volume names. Whether the volume exists, and is this driver's, is asked
   * separately ({@link #requireOwned}).
   */
  private record KnownVolume(VolumeId id, StoragePlugin plugin, Volname name) {

    /** The device, or a dataset's mountpoint. */
    HostPath path() {
      return HostPath.of(plugin.path(id.volname(), Optional.empty()));
    }

    /** What the volume's mounts look like (a raw volume's may be of its opened mapping). */
    VolumeSource source() {
      return name.format() == ImageFormat.SUBVOL
          ? new VolumeSource.Dataset(path(), name.name())
          : new VolumeSource.Device(path(), Optional.of(LuksDevices.mapperPath(mapperName())));
    }

    /** The name of the volume's LUKS2 mapping, when it is encrypted. */
    String mapperName() {
      return LuksDevices.mapperName(id);
    }
  }

  /** How a stage or publish request uses its volume, validated. */
  private record Usage(VolumeAccess access, boolean readOnly, List<String> flags) {}

  /**
   * The volume of an ID, or NOT_FOUND: an ID this driver could never have issued (malformed,
   * too long, a storage this node does not serve, not a volume name of that storage) names a
   * volume that does not exist.
   */
  private KnownVolume known(String idText) {
    VolumeId id;
    try {
      id = VolumeId.parse(idText);
    } catch (StorageException e) {
      throw new StorageException(ErrorKind.NOT_FOUND, "volume " + quoted(idText) + " does not "
          + "exist: this driver never issues such an ID (<storage>:<volume name>, printable "
          + "ASCII, at most 128 bytes)");
    }
    StoragePlugin plugin = storages.of(id);
    try {
      return new KnownVolume(id, plugin, plugin.parseVolname(id.volname()));
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.INVALID) {
        throw e;
      }
      throw new StorageException(ErrorKind.NOT_FOUND, "volume " + id + " does not exist: '"
          + id.volname() + "' is not a volume name of storage " + plugin.storeId());
    }
  }

  /** {@link #known} for the unmounting calls, which also take IDs that name nothing. */
  private Optional<KnownVolume> find(String idText) {
    try {
      return Optional.of(known(idText));
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.NOT_FOUND) {
        throw e;
      }
      return Optional.empty();
    }
  }

  /** What an unmount may undo: the volume's mounts, or nothing at all for an unknown ID. */
  private static VolumeSource source(Optional<KnownVolume> volume, String idText) {
    return volume.map(KnownVolume::source).orElseGet(() -> new VolumeSource.None(
        "anything of volume " + quoted(idText) + ", which this driver never issued"));
  }

  private static String claimKey(Optional<KnownVolume> volume, String idText) {
    return volume.map(v -> v.id().toString()).orElseGet(() -> Printable.of(idText));
  }

  /**
   * The volume's listing entry, when it exists and carries this driver's ownership (the CSI name
   * recorded at creation).
   *
   * @throws StorageException NOT_FOUND when it does not exist; PRECONDITION when the driver did
   *     not make it (e.g. a Proxmox guest disk), which is then left untouched
   */
  private ImageInfo requireOwned(KnownVolume volume) {
    ImageInfo image = listed(volume).orElseThrow(() -> new StorageException(
        ErrorKind.NOT_FOUND, "volume " + volume.id() + " does not exist on node "
            + storages.nodeId()));
    if (image.metadata().isEmpty()) {
      throw new StorageException(ErrorKind.PRECONDITION, "volume " + volume.id() + " exists "
          + "but was not created by this driver: it carries no CSI ownership (the CSI name "
          + "recorded at CreateVolume), so it may be a Proxmox guest disk or another tool's "
          + "volume; the node does not stage, publish or expand it and leaves it untouched");
    }
    return image;
  }

  /** Whether the volume exists and carries this driver's ownership. */
  private boolean owned(KnownVolume volume) {
    return listed(volume).map(i -> i.metadata().isPresent()).orElse(false);
  }

  private static Optional<ImageInfo> listed(KnownVolume volume) {
    return volume.plugin().listImages(OptionalLong.empty(), Optional.of(List.of(volume.id())))
        .stream().findFirst();
  }

  /**
   * How the volume context says the volume is encrypted, checked against its kind: LUKS2 sits
   * on raw volumes; native ZFS encryption is a dataset's (and is not handled by the node yet).
   */
  private static Encryption encryption(KnownVolume volume, java.util.Map<String, String> context) {
    Encryption encryption = Encryption.ofContext(context);
    boolean dataset = volume.name().format() == ImageFormat.SUBVOL;
    if (encryption == Encryption.LUKS2 && dataset) {
      throw new StorageException(ErrorKind.INVALID, "volume " + volume.id() + " is a ZFS "
          + "dataset and cannot be luks2-encrypted; luks2 is for LVM-thin volumes and zvols");
    }
    if (encryption == Encryption.ZFS_NATIVE && !dataset) {
      throw new StorageException(ErrorKind.INVALID, "volume " + volume.id() + " is a raw "
          + "volume and cannot use zfs-native encryption; use luks2");
    }
    return encryption;
  }

  private static void requireCapability(boolean hasCapability) {
    if (!hasCapability) {
      throw new StorageException(ErrorKind.INVALID, "volume_capability is required");
    }
  }

  private static Usage usage(KnownVolume volume, VolumeCapability capability,
      Optional<String> contextFsType) {
    VolumeId id = volume.id();
    ImageFormat format = volume.name().format();
    VolumeAccess access = VolumeAccess.of(List.of(capability), contextFsType,
        volume.plugin().type());
    if (access.format() != format) {
      throw new StorageException(ErrorKind.PRECONDITION, "volume " + id + " is a "
          + format.pveName() + " volume and cannot be used as "
          + (access.block() ? "a block device" : "fsType " + access.fsType().orElse("?"))
          + (format == ImageFormat.SUBVOL ? "; a dataset is mounted with fsType zfs"
              : "; a raw volume is used as a block device or with ext4/xfs"));
    }
    List<String> flags = new ArrayList<>(access.block() ? List.of()
        : MountFlags.check(capability.getMount().getMountFlagsList(),
            access.fsType().orElseThrow()));
    boolean readOnly = capability.getAccessMode().getMode()
        == VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY || flags.contains("ro");
    if (readOnly && !flags.contains("ro")) {
      flags.add("ro");
    }
    return new Usage(access, readOnly, List.copyOf(flags));
  }

  /**
   * Grows the filesystem on a raw volume's device, or its opened mapping (not for block use);
   * the volume's size in bytes (an encrypted volume's capacity is its LV or zvol, of which the
   * LUKS2 header takes 16 MiB, as with any filesystem's own overhead).
   */
  private long growOnDevice(KnownVolume volume, HostPath device, HostPath path,
      boolean blockCapability) {
    boolean block = blockCapability || mounter.inspect(path)
        .map(i -> i.type() == FileInfo.Type.BLOCK_DEVICE).orElse(false);
    if (!block) {
      MountEntry mount = mounter.mounts().top(path).orElseThrow(() -> new StorageException(
          ErrorKind.PRECONDITION, "volume_path " + path + " is not mounted; stage the volume "
              + "before expanding its filesystem"));
      if (!mount.isWholeFilesystemOf(mounter.blockDevice(device))) {
        throw new StorageException(ErrorKind.PRECONDITION, "volume_path " + path + " shows "
            + mount.describe() + ", not the volume " + volume.id());
      }
      mounter.growFilesystem(device, path, mount.fsType());
    }
    return mounter.blockDeviceSize(volume.path());
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

  private static String required(String field, String text) {
    if (text.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, field + " is required");
    }
    return text;
  }

  /** Request text in a message: quoted, escaped and bounded. */
  private static String quoted(String text) {
    return "'" + Printable.of(text, VolumeId.MAX_LENGTH) + "'";
  }

  private static <T> void reply(StreamObserver<T> response, T message) {
    response.onNext(message);
    response.onCompleted();
  }
}
