package io.csi.pvestorage.app;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.TextFormat;
import com.google.protobuf.util.JsonFormat;
import csi.v1.CapacityRange;
import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.GetPluginCapabilitiesRequest;
import csi.v1.GetPluginInfoRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ListSnapshotsRequest;
import csi.v1.ListVolumesRequest;
import csi.v1.NodeExpandVolumeRequest;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetInfoRequest;
import csi.v1.NodeGetVolumeStatsRequest;
import csi.v1.NodeGrpc;
import csi.v1.NodePublishVolumeRequest;
import csi.v1.NodeStageVolumeRequest;
import csi.v1.NodeUnpublishVolumeRequest;
import csi.v1.NodeUnstageVolumeRequest;
import csi.v1.ProbeRequest;
import csi.v1.ProbeResponse;
import csi.v1.Topology;
import csi.v1.TopologyRequirement;
import csi.v1.VolumeCapability;
import csi.v1.VolumeContentSource;
import io.csi.pvestorage.app.Flags.UsageException;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import io.csi.pvestorage.storage.ByteQuantity;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code client}: a CSI client for any endpoint, printing each response as protobuf text or,
 * with {@code --json}, as JSON. The operator's debugging tool, and what the demo and the
 * end-to-end tests drive.
 *
 * <p>The command line is picocli's: one sub-command per call with its own typed options and its
 * own {@code --help}, and the endpoint, output and timeout options accepted before or after the
 * sub-command. Its reflection costs the client a few milliseconds at start, which does not
 * matter for a tool run by hand; {@code serve} keeps its own small parser ({@link Flags}).
 */
@Command(name = "client", synopsisSubcommandLabel = "COMMAND",
    description = "Calls a CSI endpoint (any CSI driver, not only this one) and prints each "
        + "response as protobuf text, or JSON with --json. RPC errors print 'error: CODE: "
        + "message' and exit 1; a bad command line exits 2.",
    footer = {"", "Sizes are bytes or Kubernetes quantities: Ki Mi Gi Ti (powers of 1024), "
        + "k M G T (powers of 1000), e.g. 512Mi, 1.5Gi, 10G.",
        "Each command has its own help: client COMMAND --help."},
    subcommands = {ClientCommand.Info.class, ClientCommand.Probe.class,
        ClientCommand.NodeInfo.class, ClientCommand.CreateVolume.class,
        ClientCommand.DeleteVolume.class, ClientCommand.ListVolumes.class,
        ClientCommand.Capacity.class, ClientCommand.CreateSnapshot.class,
        ClientCommand.DeleteSnapshot.class, ClientCommand.ListSnapshots.class,
        ClientCommand.Stage.class, ClientCommand.Unstage.class, ClientCommand.Publish.class,
        ClientCommand.Unpublish.class, ClientCommand.Stats.class, ClientCommand.Expand.class,
        ClientCommand.Orphans.class})
final class ClientCommand {

  static final String DEFAULT_ENDPOINT = "unix:///csi/csi.sock";

  @Option(names = "--endpoint", scope = ScopeType.INHERIT, paramLabel = "E",
      description = "CSI endpoint, unix:///path.sock or tcp://host:port (default: $CSI_ENDPOINT,"
          + " else " + DEFAULT_ENDPOINT + ")")
  String endpoint;

  @Option(names = "--json", scope = ScopeType.INHERIT,
      description = "print JSON instead of protobuf text")
  boolean json;

  @Option(names = "--timeout", scope = ScopeType.INHERIT, paramLabel = "D", defaultValue = "2m",
      description = "deadline of each call, 1s to 2h (default: ${DEFAULT-VALUE})")
  String timeout;

  @Option(names = {"-h", "--help"}, usageHelp = true, scope = ScopeType.INHERIT,
      description = "print the help of the client or of one command")
  boolean help;

  private ClientCommand() {}

  static int run(List<String> args, Map<String, String> env, PrintStream out, PrintStream err) {
    Logging.configure(DriverConfig.LogLevel.ERROR, DriverConfig.LogFormat.TEXT);
    ClientCommand client = new ClientCommand();
    CommandLine line = new CommandLine(client);
    line.setOut(new PrintWriter(out, true));
    line.setErr(new PrintWriter(err, true));
    ParseResult parsed;
    try {
      parsed = line.parseArgs(args.toArray(String[]::new));
    } catch (ParameterException e) {
      throw usage(e);
    }
    if (CommandLine.printHelpIfRequested(parsed)) {
      return 0;
    }
    if (!parsed.hasSubcommand()) {
      line.usage(out);
      return 2;
    }
    Rpc rpc = (Rpc) parsed.subcommand().commandSpec().userObject();
    Endpoint target;
    try {
      target = Endpoint.parse(client.endpoint != null ? client.endpoint
          : env.getOrDefault("CSI_ENDPOINT", DEFAULT_ENDPOINT));
    } catch (IllegalArgumentException e) {
      throw new UsageException("--endpoint: " + e.getMessage());
    }
    Duration deadline = DriverConfig.duration("timeout", client.timeout, Duration.ofSeconds(1),
        Duration.ofHours(2));
    List<Message> responses;
    EventLoopGroup loop = target instanceof Endpoint.Unix ? new EpollEventLoopGroup(1) : null;
    ManagedChannel channel = channel(target, loop);
    try {
      responses = rpc.call(new Calls(channel, deadline));
    } catch (ParameterException e) {
      throw usage(e);
    } catch (StatusRuntimeException e) {
      Status status = e.getStatus();
      err.println("error: " + status.getCode() + ": " + status.getDescription());
      return 1;
    } finally {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (loop != null) {
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }
    }
    for (Message response : responses) {
      out.println(render(response, client.json));
    }
    if (responses.size() == 1 && responses.get(0) instanceof ProbeResponse probe) {
      return !probe.hasReady() || probe.getReady().getValue() ? 0 : 1;
    }
    if (responses.size() == 1 && responses.get(0) instanceof Struct report
        && report.containsFields("error")) {
      return 1;
    }
    return 0;
  }

  @Command(name = "orphans", description = "This driver's node plugin only: what its "
      + "storages hold that no PersistentVolume or VolumeSnapshotContent accounts for, PVs "
      + "whose volume is missing, and deleted volumes kept for their snapshots, as a table "
      + "(a fresh check that deletes nothing). Exit status 1 when the API could not be read.")
  static final class Orphans extends Rpc {
    @Override
    List<Message> call(Calls c) {
      return List.of(c.orphans());
    }
  }

  /** A bad command line as the one-line error {@link Main} prints, pointing at the help. */
  private static UsageException usage(ParameterException e) {
    String command = e.getCommandLine().getCommandName();
    String help = command.equals("client") ? "client --help" : "client " + command + " --help";
    return new UsageException(e.getMessage() + " (see " + help + ")");
  }

  /** The generated stubs with the per-call deadline applied. */
  record Calls(ManagedChannel channel, Duration timeout) {
    IdentityGrpc.IdentityBlockingStub identity() {
      return IdentityGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(),
          TimeUnit.MILLISECONDS);
    }

    ControllerGrpc.ControllerBlockingStub controller() {
      return ControllerGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(),
          TimeUnit.MILLISECONDS);
    }

    NodeGrpc.NodeBlockingStub node() {
      return NodeGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(),
          TimeUnit.MILLISECONDS);
    }

    /** The node plugin's orphan report ({@link OrphanService}). */
    Struct orphans() {
      return ClientCalls.blockingUnaryCall(channel, OrphanService.LIST_ORPHANS,
          CallOptions.DEFAULT.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS),
          Empty.getDefaultInstance());
    }
  }

  /** One sub-command: the calls it makes and the responses to print. */
  abstract static class Rpc {
    @Spec
    CommandSpec spec;

    abstract List<Message> call(Calls calls);

    /** A command line the options' types cannot refuse alone, refused like picocli's own. */
    ParameterException bad(String message) {
      return new ParameterException(spec.commandLine(), message);
    }
  }

  /** A sub-command on one existing volume, named by its ID. */
  abstract static class OnVolume extends Rpc {
    @Parameters(paramLabel = "VOLUME_ID", description = "the volume ID CreateVolume returned")
    String volumeId;
  }

  /** The volume context passed to the Node calls that mount. */
  static final class Context {
    @Option(names = "--context", split = ",", paramLabel = "K=V",
        description = "volume context, repeated or comma-separated")
    Map<String, String> values = new LinkedHashMap<>();
  }

  /** Sizes as Kubernetes quantities, through the driver's one size parser. */
  static final class Size implements ITypeConverter<Long> {
    @Override
    public Long convert(String text) {
      try {
        return ByteQuantity.parse(text);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage() + "; use " + ByteQuantity.EXAMPLES);
      }
    }
  }

  /** How the volume is accessed: block, or mounted with a filesystem and flags. */
  static final class Access {
    @Option(names = "--fs-type", paramLabel = "T",
        description = "filesystem: ext4, xfs, or zfs (a ZFS dataset)")
    String fsType;

    @Option(names = "--block", description = "raw block access instead of a filesystem")
    boolean block;

    @Option(names = "--mount-flag", split = ",", paramLabel = "F",
        description = "mount flags, repeated or comma-separated")
    List<String> mountFlags = new ArrayList<>();

    @Option(names = "--access-mode", paramLabel = "M", defaultValue = "single-node-writer",
        description = "CSI access mode, e.g. single-node-writer, single-node-reader-only "
            + "(default: ${DEFAULT-VALUE})")
    String accessMode;

    VolumeCapability capability(Rpc command) {
      VolumeCapability.Builder cap = VolumeCapability.newBuilder();
      if (block && fsType != null) {
        throw command.bad("--block and --fs-type exclude each other");
      }
      if (block) {
        cap.setBlock(VolumeCapability.BlockVolume.getDefaultInstance());
      } else {
        VolumeCapability.MountVolume.Builder mount = VolumeCapability.MountVolume.newBuilder()
            .addAllMountFlags(mountFlags);
        if (fsType != null) {
          mount.setFsType(fsType);
        }
        cap.setMount(mount);
      }
      String mode = accessMode.toUpperCase(Locale.ROOT).replace('-', '_');
      try {
        cap.setAccessMode(VolumeCapability.AccessMode.newBuilder()
            .setMode(VolumeCapability.AccessMode.Mode.valueOf(mode)));
      } catch (IllegalArgumentException e) {
        throw command.bad("--access-mode: '" + accessMode
            + "' is not a CSI access mode (e.g. single-node-writer)");
      }
      return cap.build();
    }
  }

  @Command(name = "info", description = "Plugin name, version, manifest and capabilities "
      + "(Controller and Node capabilities only where the endpoint serves them).")
  static final class Info extends Rpc {
    @Override
    List<Message> call(Calls c) {
      List<Message> all = new ArrayList<>();
      all.add(c.identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance()));
      all.add(c.identity().getPluginCapabilities(
          GetPluginCapabilitiesRequest.getDefaultInstance()));
      optional(all, () -> c.controller().controllerGetCapabilities(
          ControllerGetCapabilitiesRequest.getDefaultInstance()));
      optional(all, () -> c.node().nodeGetCapabilities(
          NodeGetCapabilitiesRequest.getDefaultInstance()));
      return all;
    }
  }

  @Command(name = "probe", description = "Readiness; exit status 1 when not ready.")
  static final class Probe extends Rpc {
    @Override
    List<Message> call(Calls c) {
      return List.of(c.identity().probe(ProbeRequest.getDefaultInstance()));
    }
  }

  @Command(name = "node-info", description = "Node ID, topology and volume limit.")
  static final class NodeInfo extends Rpc {
    @Override
    List<Message> call(Calls c) {
      return List.of(c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()));
    }
  }

  @Command(name = "create-volume", description = "CreateVolume: a new volume, a restore of a "
      + "snapshot or a clone of a volume.")
  static final class CreateVolume extends Rpc {
    @Parameters(paramLabel = "NAME", description = "the volume's CSI name (idempotency key)")
    String name;

    @Option(names = "--size", paramLabel = "S", converter = Size.class,
        description = "required bytes, e.g. 1Gi")
    Long size;

    @Option(names = "--limit", paramLabel = "S", converter = Size.class,
        description = "largest acceptable size")
    Long limit;

    @Option(names = "--storage", paramLabel = "ID",
        description = "storage ID (StorageClass parameter 'storage')")
    String storage;

    @Option(names = "--param", split = ",", paramLabel = "K=V",
        description = "other StorageClass parameters, repeated or comma-separated")
    Map<String, String> parameters = new LinkedHashMap<>();

    @ArgGroup(exclusive = true)
    Source source;

    @Option(names = "--node", paramLabel = "N", description = "requisite topology node")
    String node;

    @Mixin
    Access access;

    /** Where the volume's content comes from; at most one. */
    static final class Source {
      @Option(names = "--from-snapshot", paramLabel = "ID",
          description = "restore from this snapshot ID")
      String snapshot;

      @Option(names = "--from-volume", paramLabel = "ID", description = "clone this volume ID")
      String volume;
    }

    @Override
    List<Message> call(Calls c) {
      CreateVolumeRequest.Builder request = CreateVolumeRequest.newBuilder()
          .setName(name)
          .addVolumeCapabilities(access.capability(this));
      CapacityRange.Builder range = CapacityRange.newBuilder();
      if (size != null) {
        range.setRequiredBytes(size);
      }
      if (limit != null) {
        range.setLimitBytes(limit);
      }
      request.setCapacityRange(range);
      if (storage != null) {
        request.putParameters("storage", storage);
      }
      if (access.fsType != null) {
        request.putParameters("fsType", access.fsType);
      }
      request.putAllParameters(parameters);
      if (source != null && source.snapshot != null) {
        request.setVolumeContentSource(VolumeContentSource.newBuilder().setSnapshot(
            VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(source.snapshot)));
      }
      if (source != null && source.volume != null) {
        request.setVolumeContentSource(VolumeContentSource.newBuilder().setVolume(
            VolumeContentSource.VolumeSource.newBuilder().setVolumeId(source.volume)));
      }
      if (node != null) {
        request.setAccessibilityRequirements(
            TopologyRequirement.newBuilder().addRequisite(node(node)).addPreferred(node(node)));
      }
      return List.of(c.controller().createVolume(request.build()));
    }
  }

  @Command(name = "delete-volume", description = "DeleteVolume.")
  static final class DeleteVolume extends OnVolume {

    @Override
    List<Message> call(Calls c) {
      return List.of(c.controller().deleteVolume(
          DeleteVolumeRequest.newBuilder().setVolumeId(volumeId).build()));
    }
  }

  /** The paging options of the listings. */
  static final class Paging {
    @Option(names = "--max-entries", paramLabel = "N", defaultValue = "0",
        description = "page size; 0 lets the endpoint decide")
    int maxEntries;

    @Option(names = "--starting-token", paramLabel = "T", defaultValue = "",
        description = "the next_token of the previous page")
    String startingToken;

    int checkedMaxEntries(Rpc command) {
      if (maxEntries < 0) {
        throw command.bad("--max-entries: '" + maxEntries + "' must be a non-negative integer");
      }
      return maxEntries;
    }
  }

  @Command(name = "list-volumes", description = "ListVolumes, one page.")
  static final class ListVolumes extends Rpc {
    @Mixin
    Paging paging;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.controller().listVolumes(ListVolumesRequest.newBuilder()
          .setMaxEntries(paging.checkedMaxEntries(this))
          .setStartingToken(paging.startingToken).build()));
    }
  }

  @Command(name = "capacity", description = "GetCapacity of a storage, or of all, for a node.")
  static final class Capacity extends Rpc {
    @Option(names = "--storage", paramLabel = "ID", description = "storage ID")
    String storage;

    @Option(names = "--node", paramLabel = "N", description = "topology node")
    String node;

    @Mixin
    Access access;

    @Override
    List<Message> call(Calls c) {
      GetCapacityRequest.Builder request = GetCapacityRequest.newBuilder()
          .addVolumeCapabilities(access.capability(this));
      if (storage != null) {
        request.putParameters("storage", storage);
      }
      if (node != null) {
        request.setAccessibleTopology(node(node));
      }
      return List.of(c.controller().getCapacity(request.build()));
    }
  }

  @Command(name = "create-snapshot", description = "CreateSnapshot of a volume.")
  static final class CreateSnapshot extends Rpc {
    @Parameters(paramLabel = "NAME", description = "the snapshot's CSI name")
    String name;

    @Option(names = "--source", required = true, paramLabel = "VOLUME_ID",
        description = "the volume to snapshot")
    String source;

    @Option(names = "--param", split = ",", paramLabel = "K=V",
        description = "VolumeSnapshotClass parameters, e.g. base=true for a golden image")
    Map<String, String> parameters = new LinkedHashMap<>();

    @Override
    List<Message> call(Calls c) {
      return List.of(c.controller().createSnapshot(CreateSnapshotRequest.newBuilder()
          .setName(name).setSourceVolumeId(source).putAllParameters(parameters).build()));
    }
  }

  @Command(name = "delete-snapshot", description = "DeleteSnapshot.")
  static final class DeleteSnapshot extends Rpc {
    @Parameters(paramLabel = "SNAPSHOT_ID")
    String snapshotId;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.controller().deleteSnapshot(
          DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshotId).build()));
    }
  }

  @Command(name = "list-snapshots", description = "ListSnapshots, one page, optionally of one "
      + "source volume or one snapshot ID.")
  static final class ListSnapshots extends Rpc {
    @Option(names = "--source", paramLabel = "VOLUME_ID", description = "source volume ID")
    String source;

    @Option(names = "--snapshot-id", paramLabel = "ID", description = "snapshot ID")
    String snapshotId;

    @Mixin
    Paging paging;

    @Override
    List<Message> call(Calls c) {
      ListSnapshotsRequest.Builder request = ListSnapshotsRequest.newBuilder()
          .setMaxEntries(paging.checkedMaxEntries(this))
          .setStartingToken(paging.startingToken);
      if (source != null) {
        request.setSourceVolumeId(source);
      }
      if (snapshotId != null) {
        request.setSnapshotId(snapshotId);
      }
      return List.of(c.controller().listSnapshots(request.build()));
    }
  }

  @Command(name = "stage", description = "NodeStageVolume: activate, format if blank, mount at "
      + "the staging path (nothing mounted for --block).")
  static final class Stage extends OnVolume {

    @Option(names = "--staging-path", required = true, paramLabel = "P",
        description = "staging target path")
    String stagingPath;

    @Mixin
    Context context;

    @Mixin
    Access access;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.node().nodeStageVolume(NodeStageVolumeRequest.newBuilder()
          .setVolumeId(volumeId).setStagingTargetPath(stagingPath)
          .setVolumeCapability(access.capability(this)).putAllVolumeContext(context.values)
          .build()));
    }
  }

  @Command(name = "unstage", description = "NodeUnstageVolume.")
  static final class Unstage extends OnVolume {

    @Option(names = "--staging-path", required = true, paramLabel = "P",
        description = "staging target path")
    String stagingPath;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
          .setVolumeId(volumeId).setStagingTargetPath(stagingPath).build()));
    }
  }

  @Command(name = "publish", description = "NodePublishVolume: bind the staged volume onto the "
      + "target path.")
  static final class Publish extends OnVolume {

    @Option(names = "--staging-path", required = true, paramLabel = "P",
        description = "staging target path")
    String stagingPath;

    @Option(names = "--target-path", required = true, paramLabel = "T",
        description = "publish target path")
    String targetPath;

    @Option(names = "--readonly", description = "publish read-only")
    boolean readonly;

    @Mixin
    Context context;

    @Mixin
    Access access;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.node().nodePublishVolume(NodePublishVolumeRequest.newBuilder()
          .setVolumeId(volumeId).setStagingTargetPath(stagingPath).setTargetPath(targetPath)
          .setVolumeCapability(access.capability(this)).setReadonly(readonly)
          .putAllVolumeContext(context.values).build()));
    }
  }

  @Command(name = "unpublish", description = "NodeUnpublishVolume.")
  static final class Unpublish extends OnVolume {

    @Option(names = "--target-path", required = true, paramLabel = "T",
        description = "publish target path")
    String targetPath;

    @Override
    List<Message> call(Calls c) {
      return List.of(c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder()
          .setVolumeId(volumeId).setTargetPath(targetPath).build()));
    }
  }

  @Command(name = "stats", description = "NodeGetVolumeStats: bytes, inodes and condition.")
  static final class Stats extends OnVolume {

    @Option(names = "--volume-path", required = true, paramLabel = "P",
        description = "published path of the volume")
    String volumePath;

    @Option(names = "--staging-path", paramLabel = "P", description = "staging target path")
    String stagingPath;

    @Override
    List<Message> call(Calls c) {
      NodeGetVolumeStatsRequest.Builder request = NodeGetVolumeStatsRequest.newBuilder()
          .setVolumeId(volumeId).setVolumePath(volumePath);
      if (stagingPath != null) {
        request.setStagingTargetPath(stagingPath);
      }
      return List.of(c.node().nodeGetVolumeStats(request.build()));
    }
  }

  @Command(name = "expand", description = "NodeExpandVolume: grow the volume and its "
      + "filesystem.")
  static final class Expand extends OnVolume {

    @Option(names = "--size", required = true, paramLabel = "S", converter = Size.class,
        description = "new size, e.g. 2Gi")
    long size;

    @Option(names = "--volume-path", required = true, paramLabel = "P",
        description = "published path of the volume")
    String volumePath;

    @Option(names = "--staging-path", paramLabel = "P", description = "staging target path")
    String stagingPath;

    @Mixin
    Access access;

    @Override
    List<Message> call(Calls c) {
      NodeExpandVolumeRequest.Builder request = NodeExpandVolumeRequest.newBuilder()
          .setVolumeId(volumeId).setVolumePath(volumePath)
          .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(size))
          .setVolumeCapability(access.capability(this));
      if (stagingPath != null) {
        request.setStagingTargetPath(stagingPath);
      }
      return List.of(c.node().nodeExpandVolume(request.build()));
    }
  }

  private static Topology node(String name) {
    return Topology.newBuilder().putSegments("pve-storage.csi.io/node", name).build();
  }

  private interface Call {
    Message call();
  }

  /** Adds the response of an RPC the endpoint may not serve (UNIMPLEMENTED is skipped). */
  private static void optional(List<Message> into, Call rpc) {
    try {
      into.add(rpc.call());
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
        throw e;
      }
    }
  }

  private static String render(Message message, boolean json) {
    if (!json && message instanceof Struct report) {
      return OrphanWire.table(report);
    }
    if (json) {
      try {
        return JsonFormat.printer().print(message);
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalStateException(e);
      }
    }
    return "# " + message.getDescriptorForType().getName() + "\n"
        + TextFormat.printer().printToString(message).stripTrailing();
  }

  private static ManagedChannel channel(Endpoint endpoint, EventLoopGroup loop) {
    if (endpoint instanceof Endpoint.Unix unix) {
      return NettyChannelBuilder.forAddress(new DomainSocketAddress(unix.path().toString()))
          .channelType(EpollDomainSocketChannel.class)
          .eventLoopGroup(loop)
          .usePlaintext()
          .build();
    }
    Endpoint.Tcp tcp = (Endpoint.Tcp) endpoint;
    return NettyChannelBuilder.forAddress(tcp.host(), tcp.port()).usePlaintext().build();
  }
}
