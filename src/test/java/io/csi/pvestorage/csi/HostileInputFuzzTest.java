package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.KubeletDir;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.grpc.BindableService;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every RPC of the Identity, Controller and Node services, in process through the real
 * interceptor and request parsing, fed hostile input: random bytes as the message, valid
 * messages with their bytes flipped or cut, and well-formed messages whose every field holds odd
 * values (huge and empty strings, control characters, paths, IDs of volumes that exist and of
 * none, boundary numbers, unknown enum values). Whatever comes in, no call may answer UNKNOWN or
 * INTERNAL, hang, or echo more than a bounded, escaped description.
 *
 * <p>The storages are in memory and the node's host is empty (nothing mounted, no path exists),
 * so every failure that is not about the input would be a fake's artefact, not hidden by it.
 * The seed is fixed, so a failure reproduces; the failing request is printed.
 */
class HostileInputFuzzTest {

  private static final long SEED = 0x13_0004L;
  private static final int STRUCTURED_PER_METHOD = 200;
  private static final int RAW_PER_METHOD = 40;
  private static final int MUTATED_PER_METHOD = 40;
  private static final long GIB = 1L << 30;

  @TempDir Path lockDir;

  private final MemoryStoragePlugin lvm = new MemoryStoragePlugin("local-lvm", "lvmthin");
  private final MemoryStoragePlugin zfs = new MemoryStoragePlugin("local-zfs", "zfspool");
  private LocalStorageLock lock;
  private InProcessCsi csi;
  private List<ServerMethodDefinition<?, ?>> methods;
  private Random random;
  private List<String> strings;

  /** A host with nothing mounted and no path: reads say so, and nothing else is expected. */
  private CommandResult emptyHost(io.csi.pvestorage.exec.Command command) {
    List<String> argv = command.argv();
    return switch (argv.getFirst()) {
      case "findmnt" -> result(command, 0, "{\"filesystems\": [{\"target\": \"/\", "
          + "\"source\": \"/dev/sda1\", \"fstype\": \"ext4\", \"vfs-options\": \"rw\", "
          + "\"fs-options\": \"rw\", \"maj:min\": \"8:1\", \"fsroot\": \"/\"}]}", "");
      // realpath -z -m -- PATH...: every path is its own real path, NUL-terminated
      case "realpath" -> result(command, 0, argv.subList(argv.indexOf("--") + 1, argv.size())
          .stream().map(path -> path + "\0").collect(java.util.stream.Collectors.joining()), "");
      case "stat", "blkid", "blockdev" -> result(command, 1, "", argv.getFirst()
          + ": cannot statx '" + argv.getLast() + "': No such file or directory");
      default -> result(command, 0, "", "");
    };
  }

  private static CommandResult result(io.csi.pvestorage.exec.Command command, int exit,
      String out, String err) {
    return new CommandResult(command, exit, out.getBytes(StandardCharsets.UTF_8),
        err.getBytes(StandardCharsets.UTF_8), Duration.ZERO);
  }

  @BeforeEach
  void start() throws Exception {
    Clock clock = Clock.systemUTC();
    lock = new LocalStorageLock(new PveFlock(lockDir, clock, new Random(SEED), Sleeper.SYSTEM),
        clock, LockObserver.NONE);
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm, zfs), lock,
        Duration.ofSeconds(5), clock);
    InFlight inFlight = new InFlight();
    CommandRunner host = this::emptyHost;
    List<BindableService> services = List.of(
        new IdentityService("pve-storage.csi.io", "1.0", Map.of(), List.of(), new Readiness()),
        new ControllerService(storages, inFlight),
        new NodeService(storages, inFlight, new Mounter(host, Duration.ofSeconds(5),
            Duration.ofSeconds(5)), new KubeletDir(new HostPath("/var/lib/kubelet")), 0));
    csi = new InProcessCsi((method, code, took) -> { }, services);
    methods = services.stream().flatMap(s -> s.bindService().getMethods().stream()).toList();

    // Volumes and snapshots that exist, a foreign volume (no CSI name), and their IDs.
    lvm.put("vm-0-pvc-1", ImageFormat.RAW, GIB, Optional.of(VolumeMetadata.of("pvc-1")));
    lvm.putSnapshot("vm-0-pvc-1", "snap1", Optional.of(VolumeMetadata.of("snapshot-1")));
    lvm.put("vm-100-disk-0", ImageFormat.RAW, GIB, Optional.empty());
    zfs.put("subvol-0-ds", ImageFormat.SUBVOL, GIB, Optional.of(VolumeMetadata.of("ds")));
    random = new Random(SEED);
    strings = hostileStrings();
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
    lock.close();
  }

  private static List<String> hostileStrings() {
    List<String> values = new ArrayList<>(List.of("", " ", "a", "x".repeat(128),
        "x".repeat(129), "x".repeat(1 << 20), "a\nb", "\n", "\t", "\r\n", "\u0000", "a\u0007b",
        "\u0085", "\u2028", "ä", "\uD83D\uDE00", "\uD800", "..", "../../etc/passwd", "/", "/etc",
        "/proc", "/sys/fs/cgroup", "rel/path", "/var/lib/kubelet/pods/p/volumes/x/mount",
        "/var/lib/kubelet/plugins/kubernetes.io/csi/pve-storage.csi.io/abc/globalmount",
        "/var/lib/kubelet/../../etc", "local-lvm:vm-0-pvc-1", "local-lvm:vm-100-disk-0",
        "local-zfs:subvol-0-ds", "local-lvm:vm-0-pvc-1@snap1", "local-lvm:vm-0-none",
        "local-lvm:vm-0-pvc-1@nope", "ceph:vm-0-a", "local-lvm:", ":", "@", "local-lvm",
        "local-zfs", "storage", "fsType", "owner", "volblocksize", "sparse", "ext4", "xfs",
        "zfs", "btrfs", "ro", "rw", "noatime", "exec", "suid", "remount", "password=hunter2",
        "ro,password=hunter2", "-1", "0", "100", "999999999", "99999999999999999999", "16k",
        "3k", "true", "maybe", "csi.storage.k8s.io/pvc/name", "%s%n%x", "${jndi:ldap://x/a}",
        "'\"\\", "-o", "--", "node-a", "pve-storage.csi.io/node", "after:",
        Base64.getUrlEncoder().withoutPadding().encodeToString(
            "after:local-lvm:vm-0-pvc-1".getBytes(StandardCharsets.UTF_8))));
    return values;
  }

  // ---- the generator ----------------------------------------------------------------------

  private String randomString() {
    if (random.nextInt(4) > 0) {
      return strings.get(random.nextInt(strings.size()));
    }
    StringBuilder text = new StringBuilder();
    int length = random.nextInt(40);
    for (int i = 0; i < length; i++) {
      text.appendCodePoint(switch (random.nextInt(4)) {
        case 0 -> random.nextInt(0x20);
        case 1 -> 0x20 + random.nextInt(0x5f);
        case 2 -> 0x80 + random.nextInt(0x800);
        default -> 0x10000 + random.nextInt(0x1000);
      });
    }
    return text.toString();
  }

  private long randomNumber() {
    long[] edges = {0, 1, -1, 7, 100, 4L << 20, GIB, 300L << 20, Integer.MAX_VALUE,
        Integer.MIN_VALUE, Integer.MAX_VALUE - 1L, Long.MAX_VALUE, Long.MIN_VALUE,
        Long.MAX_VALUE - (1L << 20), 1L << 62};
    return random.nextInt(5) == 0 ? random.nextLong() : edges[random.nextInt(edges.length)];
  }

  private Object randomValue(FieldDescriptor field, int depth) {
    return switch (field.getJavaType()) {
      case STRING -> randomString();
      case INT -> (int) randomNumber();
      case LONG -> randomNumber();
      case BOOLEAN -> random.nextBoolean();
      case FLOAT -> random.nextFloat();
      case DOUBLE -> random.nextDouble();
      case BYTE_STRING -> ByteString.copyFromUtf8(randomString());
      case ENUM -> {
        List<EnumValueDescriptor> values = field.getEnumType().getValues();
        yield random.nextInt(6) == 0
            ? field.getEnumType().findValueByNumberCreatingIfUnknown(99 + random.nextInt(5))
            : values.get(random.nextInt(values.size()));
      }
      case MESSAGE -> randomMessage(field.getMessageType(), depth + 1);
    };
  }

  private Message randomMessage(Descriptor type, int depth) {
    Message.Builder builder = com.google.protobuf.DynamicMessage.newBuilder(type);
    if (depth > 4) {
      return builder.build();
    }
    for (FieldDescriptor field : type.getFields()) {
      if (field.getRealContainingOneof() != null && random.nextBoolean()) {
        continue;
      }
      if (random.nextInt(10) < 3) {
        continue;
      }
      if (field.isMapField()) {
        Descriptor entry = field.getMessageType();
        for (int i = random.nextInt(4); i > 0; i--) {
          Message.Builder pair = com.google.protobuf.DynamicMessage.newBuilder(entry);
          pair.setField(entry.findFieldByName("key"), randomString());
          FieldDescriptor value = entry.findFieldByName("value");
          pair.setField(value, randomValue(value, depth));
          builder.addRepeatedField(field, pair.build());
        }
      } else if (field.isRepeated()) {
        for (int i = random.nextInt(4); i > 0; i--) {
          builder.addRepeatedField(field, randomValue(field, depth));
        }
      } else {
        builder.setField(field, randomValue(field, depth));
      }
    }
    return builder.build();
  }

  private byte[] randomBytes() {
    byte[] bytes = new byte[random.nextInt(64)];
    random.nextBytes(bytes);
    return bytes;
  }

  private byte[] mutated(byte[] valid) {
    byte[] bytes = valid.clone();
    switch (random.nextInt(3)) {
      case 0 -> {
        for (int i = 0; i < 1 + random.nextInt(4) && bytes.length > 0; i++) {
          bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return bytes;
      }
      case 1 -> {
        return Arrays.copyOf(bytes, bytes.length == 0 ? 0 : random.nextInt(bytes.length));
      }
      default -> {
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 8);
        byte[] tail = new byte[8];
        random.nextBytes(tail);
        System.arraycopy(tail, 0, longer, bytes.length, 8);
        return longer;
      }
    }
  }

  // ---- calling -----------------------------------------------------------------------------

  /** Calls with these bytes and records any answer the contract forbids. */
  private void call(MethodDescriptor<?, ?> method, byte[] request, Supplier<String> what,
      Redaction.Sensitive sensitive, List<String> violations) {
    try {
      csi.callWithBytes(method, request,
          CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS));
    } catch (StatusRuntimeException e) {
      Status status = e.getStatus();
      String description = status.getDescription() == null ? "" : status.getDescription();
      boolean forbidden = status.getCode() == Status.Code.UNKNOWN
          || status.getCode() == Status.Code.INTERNAL
          || status.getCode() == Status.Code.DEADLINE_EXCEEDED;
      boolean unsafe = description.length() > SafeText.DESCRIPTION_LIMIT + 40
          || description.chars().anyMatch(Character::isISOControl)
          || !Redaction.scrub(description, sensitive).equals(description);
      if (forbidden || unsafe) {
        violations.add(method.getBareMethodName() + " answered " + status.getCode() + " ("
            + description.length() + " chars: " + SafeText.bounded(description, 300)
            + ") to " + SafeText.bounded(what.get(), 600));
      }
    }
  }

  private static Message prototype(MethodDescriptor<?, ?> method) {
    return (Message) ((MethodDescriptor.PrototypeMarshaller<?>) method.getRequestMarshaller())
        .getMessagePrototype();
  }

  private static String show(Message message) {
    return message.getDescriptorForType().getName() + " "
        + TextFormat.printer().emittingSingleLine(true).printToString(message);
  }

  @Test
  void noInputMakesAnyRpcAnswerUnknownOrInternal() {
    List<String> violations = new ArrayList<>();
    int calls = 0;
    for (ServerMethodDefinition<?, ?> definition : methods) {
      MethodDescriptor<?, ?> method = definition.getMethodDescriptor();
      Descriptor type = prototype(method).getDescriptorForType();
      for (int i = 0; i < STRUCTURED_PER_METHOD; i++, calls++) {
        Message message = randomMessage(type, 0);
        call(method, message.toByteArray(), () -> show(message),
            Redaction.sensitiveValues(message), violations);
      }
      for (int i = 0; i < RAW_PER_METHOD; i++, calls++) {
        byte[] bytes = randomBytes();
        call(method, bytes, () -> "random bytes " + HexFormat.of().formatHex(bytes),
            Redaction.Sensitive.NONE, violations);
      }
      for (int i = 0; i < MUTATED_PER_METHOD; i++, calls++) {
        byte[] bytes = mutated(randomMessage(type, 0).toByteArray());
        call(method, bytes, () -> "mutated bytes " + HexFormat.of().formatHex(bytes),
            Redaction.Sensitive.NONE, violations);
      }
    }
    assertTrue(methods.size() >= 25, "every RPC of the three services: " + methods.size());
    assertTrue(violations.isEmpty(), violations.size() + " of " + calls + " calls broke the "
        + "contract; the first ones:\n" + String.join("\n", violations.subList(0,
            Math.min(15, violations.size()))));
  }

  @Test
  void wellFormedHostileRequestsOfTheKindsThatOnceFailedAreAnsweredProperly() {
    List<String> violations = new ArrayList<>();
    MethodDescriptor<?, ?> create = ControllerGrpc.getCreateVolumeMethod();
    MethodDescriptor<?, ?> snapshot = ControllerGrpc.getCreateSnapshotMethod();
    for (String name : List.of("x".repeat(1 << 20), "a\nb\tc\rd", "\u0000", "\uD800")) {
      CreateVolumeRequest request = CreateVolumeRequest.newBuilder().setName(name)
          .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(Long.MAX_VALUE))
          .addVolumeCapabilities(VolumeCapability.newBuilder().setMount(
              VolumeCapability.MountVolume.newBuilder().addMountFlags("password=hunter2"))
              .setAccessMode(VolumeCapability.AccessMode.newBuilder().setModeValue(1)))
          .putParameters("storage", "local-lvm").build();
      call(create, request.toByteArray(), () -> show(request),
          Redaction.sensitiveValues(request), violations);
      CreateSnapshotRequest snap = CreateSnapshotRequest.newBuilder().setName(name)
          .setSourceVolumeId("local-lvm:vm-0-pvc-1").build();
      call(snapshot, snap.toByteArray(), () -> show(snap), Redaction.Sensitive.NONE,
          violations);
    }
    // A string field whose bytes are not UTF-8: field 1 (name), length 2, 0xc3 0x28.
    call(create, new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28}, () -> "name of invalid UTF-8",
        Redaction.Sensitive.NONE, violations);
    assertTrue(violations.isEmpty(), String.join("\n", violations));
  }
}
