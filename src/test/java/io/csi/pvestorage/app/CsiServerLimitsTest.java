package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.BoolValue;
import csi.v1.ControllerGrpc;
import csi.v1.CreateVolumeRequest;
import csi.v1.IdentityGrpc;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.ProbeRequest;
import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.CapabilitiesOnly;
import io.csi.pvestorage.csi.ControllerService;
import io.csi.pvestorage.csi.IdentityService;
import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.csi.Readiness;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.CommandSlots;
import io.csi.pvestorage.exec.LimitedCommandRunner;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13 point 7 through the real server on TCP: bursts queue for a few storage commands,
 * oversized requests and calls beyond the limit are refused with RESOURCE_EXHAUSTED, and the
 * server keeps answering.
 */
@Timeout(300)
class CsiServerLimitsTest {

  private static final CommonOptions COMMON = new CommonOptions(Set.of(), false,
      Set.of("images", "rootdir"), 0, CapacityPolicy.DEFAULT);

  @TempDir Path dir;
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private final Map<Status.Code, AtomicInteger> codes = new ConcurrentHashMap<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  /** An lvs that takes {@code hold} and counts how many of it run at once. */
  private static final class SlowLvs implements CommandRunner {
    final AtomicInteger now = new AtomicInteger();
    final AtomicInteger most = new AtomicInteger();
    final AtomicInteger total = new AtomicInteger();
    final Duration hold;
    final CountDownLatch release;
    final byte[] report;

    SlowLvs(Duration hold, CountDownLatch release) throws Exception {
      this.hold = hold;
      this.release = release;
      this.report = Files.readAllBytes(Files.list(Path.of("src/test/resources/fixtures/lvm"))
          .map(d -> d.resolve("lvs-empty-pool.stdout")).filter(Files::exists).findFirst()
          .orElseThrow());
    }

    @Override
    public CommandResult run(Command command) {
      assertEquals("lvs", command.program());
      total.incrementAndGet();
      most.accumulateAndGet(now.incrementAndGet(), Math::max);
      try {
        Thread.sleep(hold);
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        now.decrementAndGet();
      }
      return new CommandResult(command, 0, report, null, hold);
    }
  }

  private CsiServer serve(List<BindableService> services, CsiServer.Limits limits)
      throws Exception {
    Readiness readiness = new Readiness();
    readiness.markReady();
    List<BindableService> all = new ArrayList<>(services);
    all.add(new IdentityService("pve-storage.csi.io", "test", Map.of(), List.of(), readiness));
    CsiServer server = CsiServer.start(new Endpoint.Tcp("127.0.0.1", 0),
        PosixFilePermissions.fromString("rw-rw----"), all,
        List.of(new CallInterceptor((method, code, took) ->
            codes.computeIfAbsent(code, c -> new AtomicInteger()).incrementAndGet())), limits);
    toClose.add(() -> server.stop(Duration.ofSeconds(5)));
    return server;
  }

  private ManagedChannel channel(CsiServer server) {
    Endpoint.Tcp tcp = (Endpoint.Tcp) server.endpoint();
    ManagedChannel channel = NettyChannelBuilder.forAddress(tcp.host(), tcp.port())
        .usePlaintext().build();
    toClose.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    return channel;
  }

  private ControllerService controller(CommandRunner lvs) {
    Clock clock = Clock.systemUTC();
    LocalStorageLock lock = new LocalStorageLock(new PveFlock(dir, clock,
        ThreadLocalRandom.current(), Sleeper.SYSTEM), clock, new LockObserver() {});
    toClose.add(lock);
    CommandSlots slots = new CommandSlots(16, 4, Duration.ofSeconds(60));
    LvmThinPlugin lvm = new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve", "data", COMMON),
        new LimitedCommandRunner(lvs, slots, "local-lvm"));
    return new ControllerService(new NodeStorages("node-a", List.of(lvm), lock,
        Duration.ofSeconds(5), clock), new InFlight());
  }

  @Test
  void aHundredParallelListVolumesRunAtMostFourListingsAtOnce() throws Exception {
    SlowLvs lvs = new SlowLvs(Duration.ofMillis(50), new CountDownLatch(0));
    CsiServer server = serve(List.of(controller(lvs)), CsiServer.Limits.DEFAULT);
    ControllerGrpc.ControllerBlockingStub stub = ControllerGrpc.newBlockingStub(channel(server));
    try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<ListVolumesResponse>> calls = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        calls.add(callers.submit(() -> stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .listVolumes(ListVolumesRequest.getDefaultInstance())));
      }
      for (Future<ListVolumesResponse> call : calls) {
        assertEquals(0, call.get(90, TimeUnit.SECONDS).getEntriesCount());
      }
    }
    System.out.printf("100 parallel ListVolumes: %d lvs ran, at most %d at once%n",
        lvs.total.get(), lvs.most.get());
    assertEquals(100, lvs.total.get(), "each call listed once");
    assertEquals(4, lvs.most.get(), "the per-storage limit, not 100");
    assertEquals(100, codes.get(Status.Code.OK).get(), "one client queues on its connection");
  }

  @Test
  void callsBeyondTheLimitAreResourceExhaustedNamingIt() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    SlowLvs lvs = new SlowLvs(Duration.ZERO, release);
    CsiServer server = serve(List.of(controller(lvs)), new CsiServer.Limits(512 * 1024, 2));
    List<Future<ListVolumesResponse>> held = new ArrayList<>();
    try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 2; i++) {
        ControllerGrpc.ControllerBlockingStub own = ControllerGrpc.newBlockingStub(channel(server));
        held.add(callers.submit(() -> own.withDeadlineAfter(30, TimeUnit.SECONDS)
            .listVolumes(ListVolumesRequest.getDefaultInstance())));
      }
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (lvs.now.get() < 2 && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      assertEquals(2, lvs.now.get(), "two calls are being served");
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
          ControllerGrpc.newBlockingStub(channel(server)).withDeadlineAfter(10, TimeUnit.SECONDS)
              .listVolumes(ListVolumesRequest.getDefaultInstance()));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
      assertEquals("the driver is already serving 2 calls (--max-calls); retry later",
          e.getStatus().getDescription());
      release.countDown();
      for (Future<ListVolumesResponse> call : held) {
        call.get(30, TimeUnit.SECONDS);
      }
    }
    assertEquals(0, ControllerGrpc.newBlockingStub(channel(server))
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .listVolumes(ListVolumesRequest.getDefaultInstance()).getEntriesCount(),
        "the places came back");
  }

  /**
   * Each request on a connection of its own, as from many clients. (On one grpc-java
   * connection the client itself queues the calls beyond the 32 streams the server allows, and
   * keeps the refused streams open while it still has data for them: the server answers every
   * stream it gets, but that client never sends the queued ones. Go clients, as the sidecars,
   * reset their stream when the answer comes.)
   */
  @Test
  void sixtyRequestsOfThreeAndAHalfMegabytesAreRefusedAndTheServerStaysHealthy()
      throws Exception {
    CsiServer server = serve(List.of(new CapabilitiesOnly.Controller()), CsiServer.Limits.DEFAULT);
    List<ManagedChannel> channels = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      channels.add(channel(server));
    }
    List<String> descriptions = new java.util.concurrent.CopyOnWriteArrayList<>();
    Map<Status.Code, Integer> answers = createHugeVolumesAtOnce(channels, descriptions);
    System.out.println("60 requests of 3.5 MB answered " + answers);
    assertEquals(Map.of(Status.Code.RESOURCE_EXHAUSTED, 60), answers);
    assertTrue(descriptions.stream().allMatch(d ->
        d.startsWith("gRPC message exceeds maximum size 524288: ")
            || d.equals("the driver is already serving 32 calls (--max-calls); retry later")),
        descriptions.toString());
    assertEquals(BoolValue.of(true), IdentityGrpc.newBlockingStub(channel(server))
        .withDeadlineAfter(10, TimeUnit.SECONDS).probe(ProbeRequest.getDefaultInstance())
        .getReady(), "still serving");
  }

  /**
   * Sends one CreateVolume of about 3.5 MB (a StorageClass parameter no Kubernetes would admit)
   * on each channel at once and counts the answers by status code.
   *
   * @param descriptions receives the description of each failure
   */
  static Map<Status.Code, Integer> createHugeVolumesAtOnce(List<ManagedChannel> channels,
      List<String> descriptions) throws Exception {
    CreateVolumeRequest huge = CreateVolumeRequest.newBuilder().setName("pvc-huge")
        .putParameters("storage", "local-lvm")
        .putParameters("padding", "x".repeat(3_500_000))
        .build();
    Map<Status.Code, Integer> answers = new java.util.TreeMap<>();
    try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Status.Code>> calls = new ArrayList<>();
      for (ManagedChannel channel : channels) {
        calls.add(callers.submit(() -> {
          try {
            ControllerGrpc.newBlockingStub(channel).withDeadlineAfter(90, TimeUnit.SECONDS)
                .createVolume(huge);
            return Status.Code.OK;
          } catch (StatusRuntimeException e) {
            descriptions.add(e.getStatus().getDescription());
            return e.getStatus().getCode();
          }
        }));
      }
      for (Future<Status.Code> call : calls) {
        answers.merge(call.get(120, TimeUnit.SECONDS), 1, Integer::sum);
      }
    }
    return answers;
  }
}
