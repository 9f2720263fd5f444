package io.csi.pvestorage.app;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
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
import io.csi.pvestorage.app.Flags.Spec;
import io.csi.pvestorage.app.Flags.UsageException;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code client}: a CSI client for any endpoint, printing each response as protobuf text or,
 * with {@code --json}, as JSON. The operator's debugging tool, and what the demo and the
 * end-to-end tests drive.
 */
final class ClientCommand {

  static final String COMMANDS = """
      usage: pve-storage-csi client [--endpoint E] [--json] [--timeout 2m] COMMAND [ARGS] [--flags]

      commands:
        info                                 plugin name, version, manifest and capabilities
        probe                                readiness (exit status 1 when not ready)
        node-info                            node ID, topology and volume limit
        create-volume NAME --size S          [--limit S] [--storage ID] [--fs-type T | --block]
                                             [--param k=v]... [--from-snapshot ID | --from-volume ID]
                                             [--node N] [--access-mode M]
        delete-volume VOLUME_ID
        list-volumes                         [--max-entries N] [--starting-token T]
        capacity                             [--storage ID] [--node N] [--fs-type T | --block]
        create-snapshot NAME --source VOLUME_ID
        delete-snapshot SNAPSHOT_ID
        list-snapshots                       [--source VOLUME_ID] [--snapshot-id ID]
                                             [--max-entries N] [--starting-token T]
        stage VOLUME_ID --staging-path P     [--fs-type T | --block] [--mount-flag F]... [--context k=v]...
        unstage VOLUME_ID --staging-path P
        publish VOLUME_ID --staging-path P --target-path T [--fs-type T | --block] [--readonly] [--context k=v]...
        unpublish VOLUME_ID --target-path T
        stats VOLUME_ID --volume-path P      [--staging-path P]
        expand VOLUME_ID --size S --volume-path P [--staging-path P] [--fs-type T | --block]

      sizes: bytes, or with a suffix Ki Mi Gi Ti (powers of 1024) or k M G T (powers of 1000)
      """;

  private static final Pattern SIZE = Pattern.compile("([0-9]+)(Ki|Mi|Gi|Ti|k|K|M|G|T)?");

  private static final List<Spec> FLAGS = List.of(
      new Spec("endpoint", "CSI_ENDPOINT", false, "unix:///csi/csi.sock", "CSI endpoint"),
      new Spec("json", null, true, "false", "print JSON instead of protobuf text"),
      new Spec("timeout", null, false, "2m", "deadline of each call"),
      new Spec("help", null, true, "false", "print the commands"),
      new Spec("size", null, false, null, "required or new size"),
      new Spec("limit", null, false, null, "largest acceptable size"),
      new Spec("storage", null, false, null, "storage ID (StorageClass parameter 'storage')"),
      new Spec("fs-type", null, false, null, "filesystem: ext4, xfs, or zfs for datasets"),
      new Spec("block", null, true, "false", "raw block access instead of a filesystem"),
      new Spec("param", null, false, null, "extra StorageClass parameters k=v[,k=v]"),
      new Spec("from-snapshot", null, false, null, "restore from this snapshot ID"),
      new Spec("from-volume", null, false, null, "clone this volume ID"),
      new Spec("node", null, false, null, "requisite topology node"),
      new Spec("access-mode", null, false, "single-node-writer", "access mode"),
      new Spec("max-entries", null, false, "0", "page size"),
      new Spec("starting-token", null, false, "", "page token"),
      new Spec("source", null, false, null, "source volume ID"),
      new Spec("snapshot-id", null, false, null, "snapshot ID"),
      new Spec("staging-path", null, false, null, "staging target path"),
      new Spec("target-path", null, false, null, "publish target path"),
      new Spec("volume-path", null, false, null, "published path of the volume"),
      new Spec("mount-flag", null, false, null, "mount flags f1[,f2]"),
      new Spec("context", null, false, null, "volume context k=v[,k=v]"),
      new Spec("readonly", null, true, "false", "publish read-only"));

  private ClientCommand() {}

  static int run(List<String> args, Map<String, String> env, PrintStream out, PrintStream err) {
    Logging.configure(DriverConfig.LogLevel.ERROR, DriverConfig.LogFormat.TEXT);
    Flags flags = new Flags(FLAGS).parse(args, env);
    if (flags.get("help").orElse("false").equals("true") || flags.positional().isEmpty()) {
      out.print(COMMANDS);
      return flags.positional().isEmpty() && !flags.isSet("help") ? 2 : 0;
    }
    Endpoint endpoint;
    try {
      endpoint = Endpoint.parse(flags.get("endpoint").orElseThrow());
    } catch (IllegalArgumentException e) {
      throw new UsageException("--endpoint: " + e.getMessage());
    }
    Duration timeout = DriverConfig.duration(flags, "timeout", Duration.ofSeconds(1),
        Duration.ofHours(2));
    boolean json = flags.get("json").orElseThrow().equals("true");
    String command = flags.positional().get(0);
    List<String> operands = flags.positional().subList(1, flags.positional().size());

    EventLoopGroup loop = endpoint instanceof Endpoint.Unix ? new EpollEventLoopGroup(1) : null;
    ManagedChannel channel = channel(endpoint, loop);
    try {
      Calls calls = new Calls(channel, timeout);
      List<Message> responses = call(command, operands, flags, calls);
      for (Message response : responses) {
        out.println(render(response, json));
      }
      if (command.equals("probe")) {
        ProbeResponse probe = (ProbeResponse) responses.get(0);
        return !probe.hasReady() || probe.getReady().getValue() ? 0 : 1;
      }
      return 0;
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
  }

  /** The generated stubs with the per-call deadline applied. */
  private record Calls(ManagedChannel channel, Duration timeout) {
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
  }

  private static List<Message> call(String command, List<String> operands, Flags flags, Calls c) {
    return switch (command) {
      case "info" -> {
        operands(command, operands, 0);
        List<Message> all = new ArrayList<>();
        all.add(c.identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance()));
        all.add(c.identity().getPluginCapabilities(
            GetPluginCapabilitiesRequest.getDefaultInstance()));
        optional(all, () -> c.controller().controllerGetCapabilities(
            ControllerGetCapabilitiesRequest.getDefaultInstance()));
        optional(all, () -> c.node().nodeGetCapabilities(
            NodeGetCapabilitiesRequest.getDefaultInstance()));
        yield all;
      }
      case "probe" -> {
        operands(command, operands, 0);
        yield List.of(c.identity().probe(ProbeRequest.getDefaultInstance()));
      }
      case "node-info" -> {
        operands(command, operands, 0);
        yield List.of(c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()));
      }
      case "create-volume" -> List.of(c.controller().createVolume(
          createVolume(operands(command, operands, 1).get(0), flags)));
      case "delete-volume" -> List.of(c.controller().deleteVolume(DeleteVolumeRequest.newBuilder()
          .setVolumeId(operands(command, operands, 1).get(0)).build()));
      case "list-volumes" -> {
        operands(command, operands, 0);
        yield List.of(c.controller().listVolumes(ListVolumesRequest.newBuilder()
            .setMaxEntries(intFlag(flags, "max-entries"))
            .setStartingToken(flags.get("starting-token").orElse(""))
            .build()));
      }
      case "capacity" -> {
        operands(command, operands, 0);
        GetCapacityRequest.Builder request = GetCapacityRequest.newBuilder()
            .addVolumeCapabilities(capability(flags));
        flags.get("storage").ifPresent(s -> request.putParameters("storage", s));
        flags.get("node").ifPresent(n -> request.setAccessibleTopology(node(n)));
        yield List.of(c.controller().getCapacity(request.build()));
      }
      case "create-snapshot" -> List.of(c.controller().createSnapshot(
          CreateSnapshotRequest.newBuilder()
              .setName(operands(command, operands, 1).get(0))
              .setSourceVolumeId(required(flags, "source"))
              .build()));
      case "delete-snapshot" -> List.of(c.controller().deleteSnapshot(
          DeleteSnapshotRequest.newBuilder()
              .setSnapshotId(operands(command, operands, 1).get(0)).build()));
      case "list-snapshots" -> {
        operands(command, operands, 0);
        ListSnapshotsRequest.Builder request = ListSnapshotsRequest.newBuilder()
            .setMaxEntries(intFlag(flags, "max-entries"))
            .setStartingToken(flags.get("starting-token").orElse(""));
        flags.get("source").ifPresent(request::setSourceVolumeId);
        flags.get("snapshot-id").ifPresent(request::setSnapshotId);
        yield List.of(c.controller().listSnapshots(request.build()));
      }
      case "stage" -> {
        NodeStageVolumeRequest.Builder request = NodeStageVolumeRequest.newBuilder()
            .setVolumeId(operands(command, operands, 1).get(0))
            .setStagingTargetPath(required(flags, "staging-path"))
            .setVolumeCapability(capability(flags))
            .putAllVolumeContext(pairs(flags, "context"));
        yield List.of(c.node().nodeStageVolume(request.build()));
      }
      case "unstage" -> List.of(c.node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder()
          .setVolumeId(operands(command, operands, 1).get(0))
          .setStagingTargetPath(required(flags, "staging-path")).build()));
      case "publish" -> {
        NodePublishVolumeRequest.Builder request = NodePublishVolumeRequest.newBuilder()
            .setVolumeId(operands(command, operands, 1).get(0))
            .setStagingTargetPath(required(flags, "staging-path"))
            .setTargetPath(required(flags, "target-path"))
            .setVolumeCapability(capability(flags))
            .setReadonly(flags.get("readonly").orElseThrow().equals("true"))
            .putAllVolumeContext(pairs(flags, "context"));
        yield List.of(c.node().nodePublishVolume(request.build()));
      }
      case "unpublish" -> List.of(c.node().nodeUnpublishVolume(
          NodeUnpublishVolumeRequest.newBuilder()
              .setVolumeId(operands(command, operands, 1).get(0))
              .setTargetPath(required(flags, "target-path")).build()));
      case "stats" -> {
        NodeGetVolumeStatsRequest.Builder request = NodeGetVolumeStatsRequest.newBuilder()
            .setVolumeId(operands(command, operands, 1).get(0))
            .setVolumePath(required(flags, "volume-path"));
        flags.get("staging-path").ifPresent(request::setStagingTargetPath);
        yield List.of(c.node().nodeGetVolumeStats(request.build()));
      }
      case "expand" -> {
        NodeExpandVolumeRequest.Builder request = NodeExpandVolumeRequest.newBuilder()
            .setVolumeId(operands(command, operands, 1).get(0))
            .setVolumePath(required(flags, "volume-path"))
            .setCapacityRange(CapacityRange.newBuilder()
                .setRequiredBytes(size(required(flags, "size"), "size")))
            .setVolumeCapability(capability(flags));
        flags.get("staging-path").ifPresent(request::setStagingTargetPath);
        yield List.of(c.node().nodeExpandVolume(request.build()));
      }
      default -> throw new UsageException("unknown client command '" + command
          + "' (see client --help)");
    };
  }

  private static CreateVolumeRequest createVolume(String name, Flags flags) {
    CreateVolumeRequest.Builder request = CreateVolumeRequest.newBuilder()
        .setName(name)
        .addVolumeCapabilities(capability(flags));
    CapacityRange.Builder range = CapacityRange.newBuilder();
    flags.get("size").ifPresent(s -> range.setRequiredBytes(size(s, "size")));
    flags.get("limit").ifPresent(s -> range.setLimitBytes(size(s, "limit")));
    request.setCapacityRange(range);
    flags.get("storage").ifPresent(s -> request.putParameters("storage", s));
    flags.get("fs-type").ifPresent(t -> request.putParameters("fsType", t));
    request.putAllParameters(pairs(flags, "param"));
    if (flags.get("from-snapshot").isPresent() && flags.get("from-volume").isPresent()) {
      throw new UsageException("--from-snapshot and --from-volume exclude each other");
    }
    flags.get("from-snapshot").ifPresent(id -> request.setVolumeContentSource(
        VolumeContentSource.newBuilder().setSnapshot(
            VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(id))));
    flags.get("from-volume").ifPresent(id -> request.setVolumeContentSource(
        VolumeContentSource.newBuilder().setVolume(
            VolumeContentSource.VolumeSource.newBuilder().setVolumeId(id))));
    flags.get("node").ifPresent(n -> request.setAccessibilityRequirements(
        TopologyRequirement.newBuilder().addRequisite(node(n)).addPreferred(node(n))));
    return request.build();
  }

  private static Topology node(String name) {
    return Topology.newBuilder().putSegments("pve-storage.csi.io/node", name).build();
  }

  private static VolumeCapability capability(Flags flags) {
    VolumeCapability.Builder cap = VolumeCapability.newBuilder();
    boolean block = flags.get("block").orElseThrow().equals("true");
    if (block && flags.isSet("fs-type")) {
      throw new UsageException("--block and --fs-type exclude each other");
    }
    if (block) {
      cap.setBlock(VolumeCapability.BlockVolume.getDefaultInstance());
    } else {
      VolumeCapability.MountVolume.Builder mount = VolumeCapability.MountVolume.newBuilder();
      flags.get("fs-type").ifPresent(mount::setFsType);
      flags.get("mount-flag").ifPresent(f -> mount.addAllMountFlags(List.of(f.split(","))));
      cap.setMount(mount);
    }
    String mode = flags.get("access-mode").orElseThrow()
        .toUpperCase(Locale.ROOT).replace('-', '_');
    try {
      cap.setAccessMode(VolumeCapability.AccessMode.newBuilder()
          .setMode(VolumeCapability.AccessMode.Mode.valueOf(mode)));
    } catch (IllegalArgumentException e) {
      throw new UsageException("--access-mode: '" + flags.get("access-mode").orElseThrow()
          + "' is not a CSI access mode (e.g. single-node-writer)");
    }
    return cap.build();
  }

  private static List<String> operands(String command, List<String> operands, int count) {
    if (operands.size() != count) {
      throw new UsageException(command + " takes " + count + " argument"
          + (count == 1 ? "" : "s") + ", got " + operands.size() + " (see client --help)");
    }
    return operands;
  }

  private static String required(Flags flags, String name) {
    return flags.get(name).orElseThrow(() -> new UsageException("--" + name + " is required"));
  }

  private static int intFlag(Flags flags, String name) {
    String value = flags.get(name).orElseThrow();
    try {
      int n = Integer.parseInt(value);
      if (n >= 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new UsageException("--" + name + ": '" + value + "' must be a non-negative integer");
  }

  private static Map<String, String> pairs(Flags flags, String name) {
    Map<String, String> map = new LinkedHashMap<>();
    for (String item : flags.get(name).map(v -> v.split(",")).orElse(new String[0])) {
      int eq = item.indexOf('=');
      if (eq <= 0) {
        throw new UsageException("--" + name + ": '" + item + "' must be key=value");
      }
      map.put(item.substring(0, eq), item.substring(eq + 1));
    }
    return map;
  }

  /** Parses a size like {@code 1Gi}, {@code 500M} or {@code 1048576}. */
  static long size(String text, String flag) {
    Matcher m = SIZE.matcher(text);
    if (m.matches()) {
      try {
        long n = Long.parseLong(m.group(1));
        long unit = switch (m.group(2) == null ? "" : m.group(2)) {
          case "Ki" -> 1L << 10;
          case "Mi" -> 1L << 20;
          case "Gi" -> 1L << 30;
          case "Ti" -> 1L << 40;
          case "k", "K" -> 1_000L;
          case "M" -> 1_000_000L;
          case "G" -> 1_000_000_000L;
          case "T" -> 1_000_000_000_000L;
          default -> 1L;
        };
        return Math.multiplyExact(n, unit);
      } catch (NumberFormatException | ArithmeticException e) {
        // reported below
      }
    }
    throw new UsageException("--" + flag + ": '" + text + "' is not a size like 1Gi, 512Mi or "
        + "1073741824");
  }

  private interface Rpc {
    Message call();
  }

  /** Adds the response of an RPC the endpoint may not serve (UNIMPLEMENTED is skipped). */
  private static void optional(List<Message> into, Rpc rpc) {
    try {
      into.add(rpc.call());
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
        throw e;
      }
    }
  }

  private static String render(Message message, boolean json) {
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
