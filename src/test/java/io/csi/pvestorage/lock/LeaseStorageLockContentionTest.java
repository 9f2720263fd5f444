package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Several lock instances, each with its own client, scheduler and two caller threads, stand
 * for competing processes on one node. Real time and real threads against the CRUD mock server
 * (short back-off and batch bound keep it fast); what is checked is the invariant, not speed.
 */
@EnableKubernetesMockClient(crud = true)
@Timeout(120) // generous: it took 4 s idle and 25 s on a loaded 2-CPU machine
class LeaseStorageLockContentionTest {

  private static final int THREADS_PER_PROCESS = 2;
  private static final int OPERATIONS_PER_THREAD = 15;

  @SuppressWarnings("unused")
  private final Logger quietMockServer = MockRequests.quiet();

  KubernetesMockServer server;
  KubernetesClient client;

  @ParameterizedTest(name = "{0} processes")
  @ValueSource(ints = {2, 10})
  void competingProcessesNeverHoldTheSameStorageAtOnce(int processes) throws Exception {
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger violations = new AtomicInteger();
    AtomicInteger completed = new AtomicInteger();
    List<AutoCloseable> resources = new ArrayList<>();
    List<Future<?>> work = new ArrayList<>();
    ExecutorService callers = Executors.newFixedThreadPool(processes * THREADS_PER_PROCESS);
    CountDownLatch go = new CountDownLatch(1);
    try {
      for (int p = 0; p < processes; p++) {
        KubernetesClient api = server.createClient();
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        LeaseStorageLock lock =
            new LeaseStorageLock(
                api,
                new LeaseLockSettings(
                    "csi",
                    "node1",
                    "pod-" + p + "_" + p,
                    Duration.ofSeconds(15),
                    Duration.ofSeconds(5),
                    Duration.ofMillis(20),
                    Duration.ofMillis(1),
                    Duration.ofMillis(10),
                    Duration.ZERO),
                Optional.empty(),
                scheduler,
                Clock.systemUTC(),
                ThreadLocalRandom.current(),
                Sleeper.SYSTEM,
                LockObserver.NONE);
        resources.add(api);
        resources.add(scheduler::shutdownNow);
        resources.add(lock);
        for (int t = 0; t < THREADS_PER_PROCESS; t++) {
          work.add(
              callers.submit(
                  () -> {
                    go.await();
                    for (int i = 0; i < OPERATIONS_PER_THREAD; i++) {
                      lock.withLock(
                          "thin",
                          Operation.of("alloc", "", Clock.systemUTC()),
                          Instant.now().plusSeconds(40),
                          () -> {
                            if (inside.incrementAndGet() != 1) {
                              violations.incrementAndGet();
                            }
                            Thread.sleep(1);
                            inside.decrementAndGet();
                            return completed.incrementAndGet();
                          });
                    }
                    return null;
                  }));
        }
      }
      go.countDown();
      for (Future<?> f : work) {
        f.get(110, TimeUnit.SECONDS);
      }
    } finally {
      callers.shutdownNow();
      for (AutoCloseable r : resources.reversed()) {
        r.close();
      }
    }

    assertEquals(0, violations.get(), "two holders at once");
    assertEquals(processes * THREADS_PER_PROCESS * OPERATIONS_PER_THREAD, completed.get());
    assertNull(
        client.leases().inNamespace("csi").withName(LeaseNames.leaseName("node1", "thin")).get()
            .getSpec()
            .getHolderIdentity(),
        "released at the end");
  }
}
