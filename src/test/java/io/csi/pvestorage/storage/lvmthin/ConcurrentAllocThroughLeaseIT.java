package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.lock.LeaseLockSettings;
import io.csi.pvestorage.lock.LeaseStorageLock;
import io.csi.pvestorage.lock.LockObserver;
import io.csi.pvestorage.lock.Operation;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.lock.StorageLock;
import io.csi.pvestorage.storage.FencedCommandRunner;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * PVE's "pick a free name, then create" is only safe under the storage lock. Two processes
 * (two Lease locks with their own clients, on the fabric8 mock API server) each allocate
 * several unnamed volumes at once on the real thin pool: every call succeeds and the names are
 * exactly {@code vm-<owner>-disk-0 .. N-1}, each handed out once.
 */
@EnableKubernetesMockClient(crud = true)
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
class ConcurrentAllocThroughLeaseIT {

  private static final long OWNER = 4242;
  private static final int PROCESSES = 2;
  private static final int CALLS_PER_PROCESS = 4;

  KubernetesMockServer server;
  KubernetesClient client;

  @Test
  void concurrentUnnamedAllocationsGetDistinctPveNames(GuestCommandRunner guest) throws Exception {
    LvmThinStorage storage = new LvmThinStorage("local-lvm", VmHarness.VG, VmHarness.THIN_POOL,
        new CommonOptions(Set.of(), false, Set.of("images"), 0, CapacityPolicy.DEFAULT));
    List<AutoCloseable> resources = new ArrayList<>();
    List<Future<String>> calls = new ArrayList<>();
    ExecutorService callers = Executors.newFixedThreadPool(PROCESSES * CALLS_PER_PROCESS);
    try {
      for (int p = 0; p < PROCESSES; p++) {
        KubernetesClient api = server.createClient();
        ScheduledExecutorService renewals = Executors.newSingleThreadScheduledExecutor();
        StorageLock lock = new LeaseStorageLock(api,
            LeaseLockSettings.defaults("csi", "node1", "process-" + p + "_" + p),
            Optional.empty(), renewals, Clock.systemUTC(), ThreadLocalRandom.current(),
            Sleeper.SYSTEM, LockObserver.NONE);
        resources.add(api);
        resources.add(renewals::shutdownNow);
        resources.add(lock);
        LvmThinPlugin plugin =
            new LvmThinPlugin(storage, new FencedCommandRunner(guest, lock, "local-lvm"));
        for (int i = 0; i < CALLS_PER_PROCESS; i++) {
          calls.add(callers.submit(() -> lock.withLock("local-lvm",
              Operation.of("alloc", "", Clock.systemUTC()), Instant.now().plusSeconds(300),
              () -> plugin.allocImage(OWNER, ImageFormat.RAW, Optional.empty(), 16L << 20,
                  Optional.empty()))));
        }
      }
      Set<String> names = new TreeSet<>();
      for (Future<String> call : calls) {
        names.add(call.get());
      }
      Set<String> expected = new TreeSet<>();
      IntStream.range(0, PROCESSES * CALLS_PER_PROCESS)
          .forEach(i -> expected.add("vm-" + OWNER + "-disk-" + i));
      assertEquals(expected, names, "every call got its own PVE disk name");

      LvmThinPlugin reader = new LvmThinPlugin(storage, guest);
      List<String> listed = reader.listImages(OptionalLong.of(OWNER), Optional.empty()).stream()
          .map(ImageInfo::volid).map(v -> v.volname()).sorted().toList();
      assertEquals(List.copyOf(expected), listed);
      for (String name : names) {
        reader.freeImage(name);
      }
    } finally {
      callers.shutdownNow();
      for (AutoCloseable resource : resources) {
        resource.close();
      }
    }
  }
}
