package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.conformance.LeaseAgeing;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The crash suite's shortcut ({@link LeaseAgeing}) against the real Lease protocol: a Lease
 * left held by a dead process, aged, is taken over at once by the next process through the
 * protocol's own takeover path (counted as a takeover), where without the ageing the next
 * process waits the full duration; a Lease nobody holds is not touched.
 */
@EnableKubernetesMockClient(crud = true)
@Timeout(30)
class DeadHolderLeaseAgeingTest {

  private static final String NS = "pve-storage-csi";
  private static final String POOL = "local-lvm";
  private static final Duration DURATION = Duration.ofSeconds(60);

  @SuppressWarnings("unused")
  private final Logger quietMockServer = MockRequests.quiet();

  KubernetesMockServer server;
  KubernetesClient client;

  private final FakeClock clock = new FakeClock(Instant.parse("2026-12-07T20:00:00Z"));
  private final RecordingObserver observer = new RecordingObserver();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  private LeaseStorageLock process(String holder) {
    LeaseStorageLock lock = new LeaseStorageLock(client,
        new LeaseLockSettings(NS, "node1", holder, DURATION, Duration.ofSeconds(5),
            Duration.ofSeconds(5), Duration.ofMillis(20), Duration.ofMillis(250), Duration.ZERO),
        Optional.empty(), new ManualScheduler(clock), clock, new SplittableRandom(7),
        clock.sleeper(), observer);
    toClose.add(lock);
    return lock;
  }

  private Lease lease(LeaseStorageLock lock) {
    return client.leases().inNamespace(NS).withName(lock.leaseName(POOL)).get();
  }

  @Test
  void anAgedLeaseOfADeadHolderIsTakenOverAtOnceThroughTheTakeoverPath() {
    LeaseStorageLock crashed = process("driver_crashed");
    // Held and never released nor renewed: the process halted inside its operation.
    crashed.acquire(POOL, Operation.of("alloc", "vm-1-disk-0", clock), clock.instant()
        .plusSeconds(5));
    Instant renewed = lease(crashed).getSpec().getRenewTime().toInstant();
    LeaseStorageLock restarted = process("driver_restarted");

    List<String> aged = LeaseAgeing.ageHeld(client, NS);

    assertEquals(List.of(restarted.leaseName(POOL) + " held by driver_crashed"), aged);
    Lease agedLease = lease(crashed);
    assertEquals("driver_crashed", agedLease.getSpec().getHolderIdentity(), "holder kept");
    assertEquals(renewed.minus(DURATION), agedLease.getSpec().getRenewTime().toInstant());
    Instant start = clock.instant();
    try (LockHandle taken = restarted.acquire(POOL, Operation.of("free", "vm-1-disk-0", clock),
        clock.instant().plusSeconds(1))) {
      taken.ensureValid();
    }
    assertEquals(Duration.ZERO, Duration.between(start, clock.instant()), "no wait");
    assertTrue(observer.events().contains("acquired " + POOL + " takeover=true"),
        observer.events().toString());
    assertEquals(1, lease(restarted).getSpec().getLeaseTransitions());
  }

  @Test
  void withoutTheAgeingTheNextProcessWaitsForTheDuration() {
    process("driver_crashed").acquire(POOL, Operation.of("alloc", "vm-1-disk-0", clock),
        clock.instant().plusSeconds(5));
    LeaseStorageLock restarted = process("driver_restarted");

    StorageException waited = assertThrows(StorageException.class, () -> restarted.acquire(POOL,
        Operation.of("free", "vm-1-disk-0", clock), clock.instant().plus(DURATION)
            .minusSeconds(1)));

    assertEquals(ErrorKind.ABORTED, waited.kind());
    assertTrue(waited.getMessage().contains("driver_crashed"), waited.getMessage());
  }

  @Test
  void aLeaseNobodyHoldsIsLeftAsItIs() {
    LeaseStorageLock earlier = process("driver_earlier");
    earlier.acquire(POOL, Operation.of("alloc", "vm-1-disk-0", clock), clock.instant()
        .plusSeconds(5)).close();
    Lease free = lease(earlier);

    assertEquals(List.of(), LeaseAgeing.ageHeld(client, NS));

    assertEquals(free, lease(earlier));
  }
}
