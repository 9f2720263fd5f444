package io.csi.pvestorage.csi;

import com.google.protobuf.Int64Value;
import com.google.protobuf.Timestamp;
import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerGetCapabilitiesResponse;
import csi.v1.ControllerGrpc;
import csi.v1.ControllerServiceCapability;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateSnapshotResponse;
import csi.v1.CreateVolumeRequest;
import csi.v1.CreateVolumeResponse;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteSnapshotResponse;
import csi.v1.DeleteVolumeRequest;
import csi.v1.DeleteVolumeResponse;
import csi.v1.GetCapacityRequest;
import csi.v1.GetCapacityResponse;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListSnapshotsResponse;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.Snapshot;
import csi.v1.Topology;
import csi.v1.TopologyRequirement;
import csi.v1.ValidateVolumeCapabilitiesRequest;
import csi.v1.ValidateVolumeCapabilitiesResponse;
import csi.v1.Volume;
import csi.v1.VolumeCondition;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.node.crypt.Encryption;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeOptions;
import io.csi.pvestorage.storage.config.OwnerPolicy;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * The CSI Controller service of a node plugin: every volume and snapshot lives in a pool of this
 * node, so the controller half runs next to the pools (external-provisioner and
 * external-snapshotter with {@code --node-deployment}). Each RPC validates its request before
 * any command runs, claims the name or ID it works on ({@link InFlight}; a concurrent second
 * call gets ABORTED), calls one {@link VolumeOperations} method and builds the response.
 *
 * <p>Controller-side expansion is not advertised: csi-resizer then hands each expansion to
 * NodeExpandVolume, which grows the volume under the storage lock on the node that has it.
 */
public final class ControllerService extends ControllerGrpc.ControllerImplBase {

  /** The topology key of a node-local volume; its value is the node name. */
  public static final String TOPOLOGY_KEY = "pve-storage.csi.io/node";

  /** What the controller advertises. */
  public static final List<ControllerServiceCapability.RPC.Type> CAPABILITIES = List.of(
      ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME,
      ControllerServiceCapability.RPC.Type.CREATE_DELETE_SNAPSHOT,
      ControllerServiceCapability.RPC.Type.LIST_VOLUMES,
      ControllerServiceCapability.RPC.Type.LIST_SNAPSHOTS,
      ControllerServiceCapability.RPC.Type.GET_CAPACITY,
      ControllerServiceCapability.RPC.Type.CLONE_VOLUME,
      ControllerServiceCapability.RPC.Type.VOLUME_CONDITION);

  /** volume_context keys handed to the node. */
  public static final String CONTEXT_STORAGE = "storage";
  public static final String CONTEXT_FORMAT = "format";
  public static final String CONTEXT_FS_TYPE = "fsType";

  private static final int MAX_NAME_BYTES = 128;

  /** The smallest filesystem mkfs.xfs makes (xfsprogs 5.19 and later). */
  static final long MIN_XFS_BYTES = 300L << 20;

  private final NodeStorages storages;
  private final VolumeOperations operations;
  private final InFlight inFlight;
  private final OwnerPolicy owners;

  /** A controller that refuses owner IDs PVE may give a guest ({@link OwnerPolicy#DEFAULT}). */
  public ControllerService(NodeStorages storages, InFlight inFlight) {
    this(storages, inFlight, OwnerPolicy.DEFAULT);
  }

  /**
   * @param owners which volume owner IDs a CreateVolume may use (StorageClass {@code owner}, or
   *     the storage's {@code csi-owner})
   */
  public ControllerService(NodeStorages storages, InFlight inFlight, OwnerPolicy owners) {
    this.storages = Objects.requireNonNull(storages, "storages");
    this.operations = new VolumeOperations(storages);
    this.inFlight = Objects.requireNonNull(inFlight, "inFlight");
    this.owners = Objects.requireNonNull(owners, "owners");
  }

  /** The GetCapabilities answer, also served by the controller-only mode. */
  public static ControllerGetCapabilitiesResponse capabilities() {
    ControllerGetCapabilitiesResponse.Builder response =
        ControllerGetCapabilitiesResponse.newBuilder();
    for (ControllerServiceCapability.RPC.Type type : CAPABILITIES) {
      response.addCapabilities(ControllerServiceCapability.newBuilder()
          .setRpc(ControllerServiceCapability.RPC.newBuilder().setType(type)));
    }
    return response.build();
  }

  @Override
  public void controllerGetCapabilities(ControllerGetCapabilitiesRequest request,
      StreamObserver<ControllerGetCapabilitiesResponse> response) {
    reply(response, capabilities());
  }

  @Override
  public void createVolume(CreateVolumeRequest request,
      StreamObserver<CreateVolumeResponse> response) {
    String name = checkName(request.getName(), "name");
    if (request.getMutableParametersCount() > 0) {
      throw invalid("mutable_parameters are not supported (MODIFY_VOLUME is not advertised)");
    }
    long required = request.getCapacityRange().getRequiredBytes();
    long limit = request.getCapacityRange().getLimitBytes();
    if (required < 0 || limit < 0) {
      throw invalid("capacity_range bytes must not be negative");
    }
    if (limit > 0 && required > limit) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, "capacity_range required_bytes "
          + required + " is above limit_bytes " + limit);
    }
    VolumeParameters parameters = VolumeParameters.parse(request.getParametersMap());
    VolumeOperations.Source source = source(request);
    checkTopology(request.getAccessibilityRequirements());
    StoragePlugin plugin = storages.find(parameters.storage())
        .orElseThrow(() -> new StorageException(ErrorKind.EXHAUSTED, "storage '"
            + parameters.storage() + "' is not available on node " + storages.nodeId()
            + " (storages here: " + storeIds() + "); the pod must run where the storage is"));
    VolumeAccess access = VolumeAccess.of(request.getVolumeCapabilitiesList(),
        parameters.fsType(), plugin.type());
    requireEncryptable(parameters.encryption(), access, name);
    long owner = parameters.owner().orElse(plugin.defaultOwner());
    owners.check(owner, parameters.owner().isPresent() ? "StorageClass parameter owner=" + owner
        : "the csi-owner " + owner + " of storage " + plugin.storeId());
    // Refuses ZFS-only parameters on an LVM storage now, before anything runs.
    plugin.withVolumeOptions(new VolumeOptions(parameters.volBlockSize(), parameters.sparse()));

    if (access.fsType().filter("xfs"::equals).isPresent()) {
      // mkfs.xfs refuses filesystems under 300 MiB; a smaller claim gets the smallest that works.
      if (limit > 0 && limit < MIN_XFS_BYTES) {
        throw new StorageException(ErrorKind.OUT_OF_RANGE, "xfs needs at least " + MIN_XFS_BYTES
            + " bytes (300 MiB) but limit_bytes is " + limit + "; raise the limit or use ext4");
      }
      if (required > 0 && required < MIN_XFS_BYTES) {
        required = MIN_XFS_BYTES;
      }
    }

    VolumeOperations.Volume volume;
    try (InFlight.Claim claim = inFlight.enter("volume name", name)) {
      volume = operations.create(new VolumeOperations.CreateRequest(name, required, limit,
          parameters, access, source));
    }
    Volume.Builder out = Volume.newBuilder()
        .setVolumeId(volume.id().toString())
        .setCapacityBytes(volume.sizeBytes())
        .putVolumeContext(CONTEXT_STORAGE, volume.id().storeId())
        .putVolumeContext(CONTEXT_FORMAT, volume.format().pveName())
        .addAccessibleTopology(thisNode());
    access.fsType().ifPresent(fs -> out.putVolumeContext(CONTEXT_FS_TYPE, fs));
    if (parameters.encryption() != Encryption.NONE) {
      // The node opens (or formats) the container at stage by this key; the key itself is only
      // ever in the node-stage Secret.
      out.putVolumeContext(Encryption.CONTEXT_KEY, parameters.encryption().value());
    }
    if (request.hasVolumeContentSource()) {
      out.setContentSource(request.getVolumeContentSource());
    }
    reply(response, CreateVolumeResponse.newBuilder().setVolume(out).build());
  }

  /**
   * Refuses an encryption the volume cannot have, before anything runs: LUKS2 sits on a raw
   * volume (an LVM-thin LV or a zvol: block access or ext4/xfs); native ZFS encryption belongs
   * to datasets and is not offered by this version yet.
   */
  private static void requireEncryptable(Encryption encryption, VolumeAccess access,
      String name) {
    if (encryption == Encryption.LUKS2 && access.format() != ImageFormat.RAW) {
      throw invalid("StorageClass parameter encryption=luks2 (volume " + name + ") needs a raw "
          + "volume (LVM-thin, or a zvol: block access or fsType ext4/xfs), not a ZFS dataset");
    }
    if (encryption == Encryption.ZFS_NATIVE) {
      throw invalid("StorageClass parameter encryption=zfs-native (volume " + name + ") is not "
          + "supported yet; use encryption=luks2 with a zvol (fsType ext4 or xfs)");
    }
  }

  @Override
  public void deleteVolume(DeleteVolumeRequest request,
      StreamObserver<DeleteVolumeResponse> response) {
    String text = required(request.getVolumeId(), "volume_id");
    // An ID this driver never issued names no volume of ours: by the spec, that is success.
    parseOrEmpty(text, VolumeId::parse).ifPresent(id -> {
      try (InFlight.Claim claim = inFlight.enter("volume", id.toString())) {
        operations.delete(id);
      }
    });
    reply(response, DeleteVolumeResponse.getDefaultInstance());
  }

  @Override
  public void validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest request,
      StreamObserver<ValidateVolumeCapabilitiesResponse> response) {
    String text = required(request.getVolumeId(), "volume_id");
    if (request.getVolumeCapabilitiesCount() == 0) {
      throw invalid("volume_capabilities is required");
    }
    ImageInfo image = parseOrEmpty(text, VolumeId::parse).flatMap(operations::find)
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "volume " + text
            + " does not exist on node " + storages.nodeId()));
    ValidateVolumeCapabilitiesResponse.Builder out = ValidateVolumeCapabilitiesResponse
        .newBuilder();
    try {
      Optional<String> contextFsType = Optional.ofNullable(
          request.getVolumeContextMap().get(CONTEXT_FS_TYPE));
      Optional<String> fsType = request.getParametersMap().isEmpty() ? contextFsType
          : VolumeParameters.parse(request.getParametersMap()).fsType().or(() -> contextFsType);
      String type = storages.of(image.volid()).type();
      VolumeAccess access = VolumeAccess.of(request.getVolumeCapabilitiesList(), fsType, type);
      if (access.format() != image.format()) {
        throw invalid("volume " + image.volid() + " is a " + image.format().pveName()
            + " volume; these capabilities need " + access.format().pveName());
      }
      out.setConfirmed(ValidateVolumeCapabilitiesResponse.Confirmed.newBuilder()
          .putAllVolumeContext(request.getVolumeContextMap())
          .addAllVolumeCapabilities(request.getVolumeCapabilitiesList())
          .putAllParameters(request.getParametersMap()));
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.INVALID) {
        throw e;
      }
      out.setMessage(e.getMessage());
    }
    reply(response, out.build());
  }

  @Override
  public void listVolumes(ListVolumesRequest request,
      StreamObserver<ListVolumesResponse> response) {
    Page.Request pageRequest = Page.Request.of(request.getStartingToken(),
        request.getMaxEntries());
    Page<ImageInfo> page = pageRequest.cut(operations.listVolumes(), i -> i.volid().toString());
    Map<String, PoolStatus> pools = new java.util.HashMap<>();
    ListVolumesResponse.Builder out = ListVolumesResponse.newBuilder();
    for (ImageInfo image : page.items()) {
      StoragePlugin plugin = storages.of(image.volid());
      PoolStatus pool = pools.computeIfAbsent(plugin.storeId(), id -> plugin.status());
      Volume.Builder volume = Volume.newBuilder()
          .setVolumeId(image.volid().toString())
          .setCapacityBytes(image.sizeBytes())
          .putVolumeContext(CONTEXT_STORAGE, image.volid().storeId())
          .putVolumeContext(CONTEXT_FORMAT, image.format().pveName())
          .addAccessibleTopology(thisNode());
      out.addEntries(ListVolumesResponse.Entry.newBuilder().setVolume(volume)
          .setStatus(ListVolumesResponse.VolumeStatus.newBuilder()
              .setVolumeCondition(condition(plugin, pool))));
    }
    page.nextToken().ifPresent(out::setNextToken);
    reply(response, out.build());
  }

  private static VolumeCondition condition(StoragePlugin plugin, PoolStatus pool) {
    if (!pool.active()) {
      return VolumeCondition.newBuilder().setAbnormal(true)
          .setMessage("the pool of storage " + plugin.storeId() + " is not active").build();
    }
    if (pool.totalBytes() > 0 && pool.availableBytes() <= 0) {
      return VolumeCondition.newBuilder().setAbnormal(true)
          .setMessage("the pool of storage " + plugin.storeId() + " is full; writes to thin "
              + "volumes fail").build();
    }
    return VolumeCondition.newBuilder().setAbnormal(false).setMessage("volume present").build();
  }

  @Override
  public void getCapacity(GetCapacityRequest request,
      StreamObserver<GetCapacityResponse> response) {
    GetCapacityResponse.Builder out = GetCapacityResponse.newBuilder();
    boolean here = !request.hasAccessibleTopology()
        || storages.nodeId().equals(
            request.getAccessibleTopology().getSegmentsMap().get(TOPOLOGY_KEY));
    if (!here) {
      reply(response, out.setAvailableCapacity(0).build());
      return;
    }
    List<StoragePlugin> plugins;
    if (request.getParametersMap().isEmpty()) {
      plugins = storages.all();
    } else {
      VolumeParameters parameters = VolumeParameters.parse(request.getParametersMap());
      Optional<StoragePlugin> plugin = storages.find(parameters.storage())
          .map(p -> p.withVolumeOptions(
              new VolumeOptions(parameters.volBlockSize(), parameters.sparse())));
      if (plugin.isPresent() && request.getVolumeCapabilitiesCount() > 0
          && !fits(request, parameters, plugin.get())) {
        plugin = Optional.empty();
      }
      plugins = plugin.stream().toList();
    }
    long total = 0;
    long largest = 0;
    for (StoragePlugin plugin : plugins) {
      long allocatable = Math.max(0, plugin.status().allocatableBytes());
      total += allocatable;
      largest = Math.max(largest, allocatable);
    }
    reply(response, out.setAvailableCapacity(total)
        .setMaximumVolumeSize(Int64Value.of(largest)).build());
  }

  /** Whether the capabilities can be served by this storage at all (else its capacity is 0). */
  private static boolean fits(GetCapacityRequest request, VolumeParameters parameters,
      StoragePlugin plugin) {
    try {
      VolumeAccess.of(request.getVolumeCapabilitiesList(), parameters.fsType(), plugin.type());
      return true;
    } catch (StorageException e) {
      if (e.kind() == ErrorKind.INVALID) {
        return false;
      }
      throw e;
    }
  }

  @Override
  public void createSnapshot(CreateSnapshotRequest request,
      StreamObserver<CreateSnapshotResponse> response) {
    String name = checkName(request.getName(), "name");
    String sourceText = required(request.getSourceVolumeId(), "source_volume_id");
    boolean base = baseParameter(request.getParametersMap());
    VolumeId source = parseOrEmpty(sourceText, VolumeId::parse)
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "source volume "
            + sourceText + " is not a volume ID of this driver"));
    SnapshotInfo snapshot;
    try (InFlight.Claim claim = inFlight.enter("snapshot name", name)) {
      snapshot = base ? operations.golden(name, source) : operations.snapshot(name, source);
    }
    reply(response, CreateSnapshotResponse.newBuilder().setSnapshot(snapshot(snapshot)).build());
  }

  @Override
  public void deleteSnapshot(DeleteSnapshotRequest request,
      StreamObserver<DeleteSnapshotResponse> response) {
    String text = required(request.getSnapshotId(), "snapshot_id");
    parseOrEmpty(text, SnapshotId::parse).ifPresent(id -> {
      try (InFlight.Claim claim = inFlight.enter("snapshot", id.toString())) {
        operations.deleteSnapshot(id);
      }
    });
    reply(response, DeleteSnapshotResponse.getDefaultInstance());
  }

  @Override
  public void listSnapshots(ListSnapshotsRequest request,
      StreamObserver<ListSnapshotsResponse> response) {
    Page.Request pageRequest = Page.Request.of(request.getStartingToken(),
        request.getMaxEntries());
    List<SnapshotInfo> all;
    if (!request.getSnapshotId().isEmpty()) {
      all = parseOrEmpty(request.getSnapshotId(), SnapshotId::parse)
          .filter(id -> request.getSourceVolumeId().isEmpty()
              || id.volume().toString().equals(request.getSourceVolumeId()))
          .map(operations::snapshotById).orElse(List.of());
    } else if (!request.getSourceVolumeId().isEmpty()) {
      all = parseOrEmpty(request.getSourceVolumeId(), VolumeId::parse)
          .map(operations::snapshotsOf).orElse(List.of());
    } else {
      all = operations.allSnapshots();
    }
    Page<SnapshotInfo> page = pageRequest.cut(all, s -> s.id().toString());
    ListSnapshotsResponse.Builder out = ListSnapshotsResponse.newBuilder();
    page.items().forEach(s -> out.addEntries(
        ListSnapshotsResponse.Entry.newBuilder().setSnapshot(snapshot(s))));
    page.nextToken().ifPresent(out::setNextToken);
    reply(response, out.build());
  }

  /** The VolumeSnapshotClass parameter that makes CreateSnapshot make a golden image. */
  static final String BASE_PARAMETER = "base";

  /**
   * Whether the VolumeSnapshotClass asks for a golden image ({@value #BASE_PARAMETER}: {@code
   * "true"}); INVALID_ARGUMENT for any other value than {@code true} or {@code false} and for
   * any other parameter but the sidecars' {@code csi.storage.k8s.io/} ones, before anything runs.
   */
  private static boolean baseParameter(Map<String, String> parameters) {
    for (String key : parameters.keySet()) {
      if (!key.startsWith("csi.storage.k8s.io/") && !key.equals(BASE_PARAMETER)) {
        throw invalid("unknown VolumeSnapshotClass parameter '" + key + "'; the only one is '"
            + BASE_PARAMETER + "' (\"true\" or \"false\")");
      }
    }
    String value = parameters.getOrDefault(BASE_PARAMETER, "false");
    if (!value.equals("true") && !value.equals("false")) {
      throw invalid("VolumeSnapshotClass parameter '" + BASE_PARAMETER + "' must be \"true\" "
          + "or \"false\", not '" + SafeText.bounded(value, 64) + "'");
    }
    return value.equals("true");
  }

  private static Snapshot snapshot(SnapshotInfo info) {
    Instant created = info.ctime();
    return Snapshot.newBuilder()
        .setSnapshotId(info.id().toString())
        .setSourceVolumeId(info.sourceVolume().toString())
        .setSizeBytes(info.sizeBytes())
        .setCreationTime(Timestamp.newBuilder().setSeconds(created.getEpochSecond())
            .setNanos(created.getNano()))
        .setReadyToUse(true)
        .build();
  }

  // ---- validation ---------------------------------------------------------------------------

  private VolumeOperations.Source source(CreateVolumeRequest request) {
    if (!request.hasVolumeContentSource()) {
      return new VolumeOperations.Source.Empty();
    }
    VolumeContentSource source = request.getVolumeContentSource();
    return switch (source.getTypeCase()) {
      case SNAPSHOT -> {
        String text = required(source.getSnapshot().getSnapshotId(),
            "volume_content_source.snapshot.snapshot_id");
        yield new VolumeOperations.Source.FromSnapshot(parseOrEmpty(text, SnapshotId::parse)
            .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "snapshot " + text
                + " is not a snapshot ID of this driver")));
      }
      case VOLUME -> {
        String text = required(source.getVolume().getVolumeId(),
            "volume_content_source.volume.volume_id");
        yield new VolumeOperations.Source.FromVolume(parseOrEmpty(text, VolumeId::parse)
            .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "volume " + text
                + " is not a volume ID of this driver")));
      }
      default -> throw invalid("volume_content_source names neither a snapshot nor a volume");
    };
  }

  /**
   * A volume here is reachable from this node only: a requisite topology that leaves this node
   * out cannot be met here, which RESOURCE_EXHAUSTED tells the provisioner (it reschedules).
   */
  private void checkTopology(TopologyRequirement requirement) {
    if (requirement.getRequisiteCount() == 0) {
      return;
    }
    for (Topology topology : requirement.getRequisiteList()) {
      if (storages.nodeId().equals(topology.getSegmentsMap().get(TOPOLOGY_KEY))) {
        return;
      }
    }
    throw new StorageException(ErrorKind.EXHAUSTED, "the requisite topology does not include "
        + "node " + storages.nodeId() + " (" + TOPOLOGY_KEY + "); volumes of this driver can "
        + "only be created on the node that serves the request");
  }

  private Topology thisNode() {
    return Topology.newBuilder().putSegments(TOPOLOGY_KEY, storages.nodeId()).build();
  }

  private String storeIds() {
    List<String> ids = storages.all().stream().map(StoragePlugin::storeId).toList();
    return ids.isEmpty() ? "none" : String.join(", ", ids);
  }

  private static String checkName(String name, String field) {
    required(name, field);
    if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
      throw invalid(field + " is longer than " + MAX_NAME_BYTES + " bytes");
    }
    for (int i = 0; i < name.length(); i++) {
      if (bannedInName(name.charAt(i))) {
        throw invalid(field + " contains the control character U+" + String.format("%04X",
            (int) name.charAt(i)) + " at position " + i + "; CSI names may hold any Unicode "
            + "text except U+0000-U+0008, U+000B, U+000C, U+000E-U+001F and U+007F-U+009F");
      }
    }
    return name;
  }

  /**
   * The characters the CSI spec bans from names: the control characters except the common
   * whitespace tab, newline and carriage return, which a name may hold (the volume name on
   * disk is then a hash, and the CSI name is stored encoded).
   */
  private static boolean bannedInName(char c) {
    return Character.isISOControl(c) && c != '\t' && c != '\n' && c != '\r';
  }

  private static String required(String value, String field) {
    if (value.isEmpty()) {
      throw invalid(field + " is required");
    }
    return value;
  }

  /** IDs this driver never issues name nothing of ours: absent rather than an error. */
  private static <T> Optional<T> parseOrEmpty(String text, Function<String, T> parser) {
    try {
      return Optional.of(parser.apply(text));
    } catch (StorageException e) {
      if (e.kind() == ErrorKind.INVALID) {
        return Optional.empty();
      }
      throw e;
    }
  }

  private static StorageException invalid(String message) {
    return new StorageException(ErrorKind.INVALID, message);
  }

  private static <T> void reply(StreamObserver<T> response, T message) {
    response.onNext(message);
    response.onCompleted();
  }
}
