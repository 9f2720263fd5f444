package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.csi.CallInterceptor;
import io.csi.pvestorage.csi.InFlight;
import io.csi.pvestorage.csi.MemoryStoragePlugin;
import io.csi.pvestorage.csi.NodeStorages;
import io.csi.pvestorage.csi.RpcObserver;
import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.LocalStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.PveFlock;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.reconcile.ClusterObjects;
import io.csi.pvestorage.reconcile.ClusterView;
import io.csi.pvestorage.reconcile.OrphanReconciler;
import io.csi.pvestorage.reconcile.PvEvents;
import io.csi.pvestorage.storage.HiddenVolume;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.VolumeMetadata;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code client orphans} against a real server carrying {@link OrphanService} beside the CSI
 * services, over a unix socket as on a node: the table, the JSON, a pass that only reports even
 * with clean-up on, and the exit status when the API cannot be read.
 */
class OrphanServiceTest {

  private static final Instant NOW = Instant.parse("2026-12-07T21:00:00Z");

  @TempDir Path dir;

  private final FakeClock clock = new FakeClock(NOW);
  private final MemoryStoragePlugin lvm = new MemoryStoragePlugin("local-lvm", "lvmthin");
  private final AtomicBoolean apiDown = new AtomicBoolean();
  private final List<ClusterObjects.Pv> pvs = new ArrayList<>();
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private LocalStorageLock lock;
  private CsiServer server;
  private OrphanReconciler reconciler;

  @BeforeEach
  void start() throws Exception {
    lock = new LocalStorageLock(new PveFlock(dir, clock, ThreadLocalRandom.current(),
        Sleeper.SYSTEM), clock, new LockObserver() {});
    NodeStorages storages = new NodeStorages("node-a", List.of(lvm), lock, Duration.ofSeconds(5),
        clock);
    ClusterView view = () -> {
      if (apiDown.get()) {
        throw new ClusterView.ClusterReadException("cannot list PersistentVolumes (HTTP 403): "
            + "forbidden", null);
      }
      return new ClusterObjects(pvs, List.of());
    };
    reconciler = new OrphanReconciler(storages, new InFlight(), view,
        PvEvents.NONE, new OrphanReconciler.Settings(Duration.ofHours(1), true));
    server = CsiServer.start(new Endpoint.Unix(dir.resolve("csi.sock")),
        PosixFilePermissions.fromString("rw-rw----"),
        List.of(CallInterceptor.parsingLeniently(new OrphanService(reconciler))),
        List.of(new CallInterceptor(RpcObserver.NONE)));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(1));
    lock.close();
  }

  private int client(String... args) {
    List<String> all = new ArrayList<>(List.of("--endpoint", "unix://" + dir.resolve("csi.sock")));
    all.addAll(List.of(args));
    return ClientCommand.run(all, Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  private String out() {
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void printsOneLinePerOrphanAndDeletesNothing() {
    lvm.now(NOW.minus(Duration.ofDays(3)));
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, 1L << 30, Optional.of(new VolumeMetadata(
        "pvc-lost", Optional.of("apps"), Optional.of("data"), Optional.of("pvc-lost"))));
    pvs.add(new ClusterObjects.Pv("pvc-gone", "uid-1", "local-lvm:vm-0-pvc-gone",
        Optional.of("node-a"), Optional.of("apps/cache"), 2L << 30,
        Optional.of(NOW.minus(Duration.ofHours(5))), true));
    lvm.putHidden(new HiddenVolume("csi-deleted-1", "vm-0-pvc-old", 3L << 20,
        NOW.minus(Duration.ofMinutes(30)), Optional.empty(), 1, 2));

    assertEquals(0, client("orphans"));
    clock.advance(Duration.ofHours(2));
    out.reset();
    assertEquals(0, client("orphans"));

    List<String> lines = out().lines().toList();
    assertTrue(lines.get(0).startsWith("# node node-a, checked 2026-12-07T23:00:00Z, grace 60m, "
        + "clean-up on"), lines.get(0));
    assertTrue(lines.get(1).matches("STORAGE +KIND +ID +SIZE +AGE +CLAIM +PV +NOTE"), lines.get(1));
    assertTrue(lines.get(2).matches("local-lvm +volume-without-pv +local-lvm:vm-0-pvc-lost +1\\.0Gi"
        + " +3d +apps/data +pvc-lost +csi name pvc-lost"), lines.get(2));
    assertTrue(lines.get(3).matches("local-lvm +pv-without-volume +local-lvm:vm-0-pvc-gone +2\\.0Gi"
        + " +7h +apps/cache +pvc-gone +the volume is not in storage local-lvm on node node-a"),
        lines.get(3));
    assertTrue(lines.get(4).matches("local-lvm +hidden-volume +local-lvm:csi-deleted-1 +3\\.0Mi"
        + " +2h +- +- +deleted volume vm-0-pvc-old, kept for 1 snapshot\\(s\\) and 2 clone\\(s\\)"),
        lines.get(4));
    assertEquals(5, lines.size(), out());
    assertTrue(lvm.has("vm-0-pvc-lost"), "a check asked for by the client never deletes");
    assertEquals(List.of(), lvm.calls());

    out.reset();
    assertEquals(0, client("--json", "orphans"));
    assertTrue(out().contains("\"kind\": \"volume-without-pv\""), out());
    assertTrue(out().contains("\"claim\": \"apps/data\""), out());
  }

  /**
   * The meters read the last complete pass: what clean-up deleted no longer counts, a pass that
   * could not read the API keeps the values and counts a failure.
   */
  @Test
  void theMetersShowWhatIsStillThereAfterTheLastCompletePass() {
    lvm.now(NOW.minus(Duration.ofDays(3)));
    lvm.put("vm-0-pvc-lost", ImageFormat.RAW, 1L << 30, Optional.of(VolumeMetadata.of("pvc-lost")));
    lvm.put("vm-0-pvc-two", ImageFormat.RAW, 2L << 30, Optional.of(VolumeMetadata.of("pvc-two")));
    OrphanWiring.MetricsSource meters = new OrphanWiring.MetricsSource(reconciler);
    assertTrue(Double.isNaN(meters.lastCheckSeconds("local-lvm")), "no pass yet");

    reconciler.reconcile(true);
    assertEquals(2, meters.count("local-lvm", "volume-without-pv"));
    assertEquals(3L << 30, meters.bytes("local-lvm", "volume-without-pv"));
    assertEquals(0, meters.count("local-lvm", "hidden-volume"));

    clock.advance(Duration.ofHours(1));
    lvm.now(NOW); // a later volume: not an orphan yet
    reconciler.reconcile(true);
    assertEquals(0, meters.count("local-lvm", "volume-without-pv"), "both deleted");
    assertEquals(2, meters.cleanups("local-lvm", "volume-without-pv"));
    assertEquals(NOW.plus(Duration.ofHours(1)).getEpochSecond(),
        meters.lastCheckSeconds("local-lvm"));

    lvm.put("vm-0-pvc-three", ImageFormat.RAW, 1L << 30,
        Optional.of(VolumeMetadata.of("pvc-three")));
    clock.advance(Duration.ofHours(2));
    reconciler.reconcile(true);
    assertEquals(1, meters.count("local-lvm", "volume-without-pv"));
    apiDown.set(true);
    reconciler.reconcile(true);
    assertEquals(1, meters.count("local-lvm", "volume-without-pv"), "kept from the last pass");
    assertEquals(1, meters.failures("local-lvm", "api"));
    assertEquals(0, meters.failures("local-lvm", "storage"));
  }

  @Test
  void saysWhenThereIsNothingAndExitsOneWhenTheApiCannotBeRead() {
    assertEquals(0, client("orphans"));
    assertTrue(out().endsWith("no orphans\n"), out());
    apiDown.set(true);
    out.reset();
    assertEquals(1, client("orphans"));
    assertTrue(out().contains("error: nothing compared: cannot list PersistentVolumes (HTTP 403)"),
        out());
  }
}
