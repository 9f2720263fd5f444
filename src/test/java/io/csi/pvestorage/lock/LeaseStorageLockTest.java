package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.net.ServerSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Lease protocol against the fabric8 mock API server in CRUD mode (which answers 409 to a
 * stale resourceVersion), with a fake clock: deadlines and expiry cost no real time.
 */
@EnableKubernetesMockClient(crud = true)
@Timeout(30)
class LeaseStorageLockTest {

  private static final String NS = "csi";
  private static final String POOL = "thin";
  private static final Duration DURATION = Duration.ofSeconds(15);
  private static final Duration RENEW = Duration.ofSeconds(5);
  private static final Duration LINGER = Duration.ofSeconds(1);

  @SuppressWarnings("unused")
  private final Logger quietMockServer = MockRequests.quiet();

  KubernetesMockServer server;
  KubernetesClient client;

  private final FakeClock clock = new FakeClock(Instant.parse("2026-11-24T18:00:00Z"));
  private final RecordingObserver observer = new RecordingObserver();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  private LeaseLockSettings settings(String holder) {
    return new LeaseLockSettings(
        NS, "node1", holder, DURATION, RENEW, Duration.ofSeconds(5), Duration.ofMillis(20), Duration.ofMillis(250),
        Duration.ZERO);
  }

  private LeaseStorageLock lock(String holder, KubernetesClient api, ManualScheduler scheduler, Sleeper sleeper) {
    return lock(settings(holder), api, scheduler, sleeper);
  }

  /** A process whose Lease lingers {@link #LINGER} after its last operation. */
  private LeaseStorageLock lingering(String holder, ManualScheduler scheduler, Sleeper sleeper) {
    LeaseLockSettings plain = settings(holder);
    return lock(new LeaseLockSettings(NS, "node1", holder, DURATION, RENEW, plain.maxBatchHold(),
        plain.retryMin(), plain.retryMax(), LINGER), client, scheduler, sleeper);
  }

  private LeaseStorageLock lock(LeaseLockSettings settings, KubernetesClient api,
      ManualScheduler scheduler, Sleeper sleeper) {
    LeaseStorageLock lock =
        new LeaseStorageLock(
            api,
            settings,
            Optional.empty(),
            scheduler,
            clock,
            new SplittableRandom(7),
            sleeper,
            observer);
    toClose.add(lock);
    return lock;
  }

  private LeaseStorageLock lock(String holder, ManualScheduler scheduler) {
    return lock(holder, client, scheduler, clock.sleeper());
  }

  private Operation op(String verb, String subject) {
    return Operation.of(verb, subject, clock);
  }

  private Instant in(Duration d) {
    return clock.instant().plus(d);
  }

  private Lease lease(LeaseStorageLock lock) {
    return client.leases().inNamespace(NS).withName(lock.leaseName(POOL)).get();
  }

  @Test
  void firstOperationCreatesTheLeaseAndReleaseClearsTheHolder() throws Exception {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));

    LockHandle handle = a.acquire(POOL, op("alloc", "vm-100-disk-0"), in(Duration.ofSeconds(5)));
    assertEquals("pod-a_1", handle.holderIdentity(), "commands run under it carry the identity");

    Lease held = lease(a);
    assertEquals("pod-a_1", held.getSpec().getHolderIdentity());
    assertEquals(15, held.getSpec().getLeaseDurationSeconds());
    assertEquals(0, held.getSpec().getLeaseTransitions());
    assertEquals(clock.instant(), held.getSpec().getAcquireTime().toInstant());
    assertEquals(clock.instant(), held.getSpec().getRenewTime().toInstant());
    assertEquals(
        "alloc vm-100-disk-0 since 2026-11-24T18:00:00Z",
        held.getMetadata().getAnnotations().get(LeasePool.ANNOTATION_OPERATION));
    assertEquals("thin", held.getMetadata().getAnnotations().get(LeasePool.ANNOTATION_STORAGE));
    assertEquals("node1", held.getMetadata().getAnnotations().get(LeasePool.ANNOTATION_NODE));
    handle.ensureValid();

    handle.close();

    Lease released = lease(a);
    assertNull(released.getSpec().getHolderIdentity());
    assertFalse(released.getMetadata().getAnnotations().containsKey(LeasePool.ANNOTATION_OPERATION));
    // Read (not found), create; release; the other GETs are the test's own.
    assertEquals(List.of("GET", "POST", "GET", "PUT", "GET"), MockRequests.methods(server));
    assertEquals(List.of("acquired thin takeover=false", "waited thin", "held thin"), observer.events());
  }

  @Test
  void anUncontendedOperationCostsTwoWritesAndNoRead() throws Exception {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    a.withLock(POOL, op("alloc", "vm-100-disk-0"), in(Duration.ofSeconds(5)), () -> null);
    MockRequests.drain(server);

    a.withLock(POOL, op("free", "vm-100-disk-0"), in(Duration.ofSeconds(5)), () -> null);

    assertEquals(List.of("PUT", "PUT"), MockRequests.methods(server));
  }

  @Test
  void aLingeringLeaseServesTheNextOperationWithoutAnyApiCallAndIsReleasedAfterwards()
      throws Exception {
    ManualScheduler scheduler = new ManualScheduler(clock);
    LeaseStorageLock a = lingering("pod-a_1", scheduler, clock.sleeper());
    a.withLock(POOL, op("alloc", "vm-100-disk-0"), in(Duration.ofSeconds(5)), () -> null);
    MockRequests.drain(server);
    assertEquals("pod-a_1", lease(a).getSpec().getHolderIdentity(), "kept for the linger");
    MockRequests.drain(server);

    clock.advance(LINGER.dividedBy(2));
    scheduler.runDue();
    a.withLock(POOL, op("alloc", "vm-100-disk-1"), in(Duration.ofSeconds(5)), () -> null);
    assertEquals(List.of(), MockRequests.methods(server), "the second operation used the hold");

    clock.advance(LINGER.dividedBy(2));
    scheduler.runDue();
    assertEquals(List.of(), MockRequests.methods(server),
        "the linger counts from the end of the last operation");
    clock.advance(LINGER.dividedBy(2));
    scheduler.runDue();
    assertEquals(List.of("PUT"), MockRequests.methods(server), "one write releases it");
    assertNull(lease(a).getSpec().getHolderIdentity());
    assertEquals(0, scheduler.pending(), "no renewal or release left behind");
    assertEquals(1, observer.events().stream().filter(e -> e.startsWith("acquired")).count());
  }

  @Test
  void anotherProcessGetsALingeringLeaseWhenTheLingerEnds() throws Exception {
    ManualScheduler schedulerA = new ManualScheduler(clock);
    LeaseStorageLock a = lingering("pod-a_1", schedulerA, clock.sleeper());
    a.withLock(POOL, op("alloc", "vm-100-disk-0"), in(Duration.ofSeconds(5)), () -> null);
    Instant released = clock.instant().plus(LINGER);
    // B's waiting advances the shared clock; A's scheduler then releases on time.
    Sleeper sleeper = d -> {
      clock.advance(d);
      schedulerA.runDue();
    };
    LeaseStorageLock b = lock("pod-b_2", client, new ManualScheduler(clock), sleeper);

    try (LockHandle taken = b.acquire(POOL, op("free", "vm-100-disk-0"), in(Duration.ofSeconds(10)))) {
      taken.ensureValid();
      assertEquals("pod-b_2", lease(b).getSpec().getHolderIdentity());
    }
    assertFalse(clock.instant().isBefore(released), "not before the linger ended");
    assertTrue(clock.instant().isBefore(released.plus(Duration.ofMillis(300))),
        "taken within one poll of the release, not at expiry: " + clock.instant());
    assertFalse(observer.events().contains("acquired thin takeover=true"));
  }

  @Test
  void shuttingDownReleasesALingeringLeaseAtOnce() throws Exception {
    ManualScheduler scheduler = new ManualScheduler(clock);
    LeaseStorageLock a = lingering("pod-a_1", scheduler, clock.sleeper());
    a.withLock(POOL, op("alloc", "vm-100-disk-0"), in(Duration.ofSeconds(5)), () -> null);
    assertEquals("pod-a_1", lease(a).getSpec().getHolderIdentity());

    a.close();

    assertNull(lease(a).getSpec().getHolderIdentity());
    assertEquals(0, scheduler.pending(), "the planned release is called off");
  }

  @Test
  void aLeaseDeletedBetweenOperationsIsCreatedAgain() throws Exception {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    a.withLock(POOL, op("alloc", "vm-1-disk-0"), in(Duration.ofSeconds(5)), () -> null);
    client.leases().inNamespace(NS).withName(a.leaseName(POOL)).delete();
    MockRequests.drain(server);

    a.withLock(POOL, op("alloc", "vm-1-disk-1"), in(Duration.ofSeconds(5)), () -> null);

    // The cached version is gone (404), read (404), create, release.
    assertEquals(List.of("PUT", "GET", "POST", "PUT"), MockRequests.methods(server));
    assertNull(lease(a).getSpec().getHolderIdentity());
  }

  @Test
  void aMissingNamespaceIsReportedAndRetriedWithBackOffNotInATightLoop() throws Exception {
    server
        .expect()
        .post()
        .withPath("/apis/coordination.k8s.io/v1/namespaces/csi/leases")
        .andReturn(404, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(404).withMessage("namespaces \"csi\" not found").build())
        .always();
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));

    StorageException e =
        assertThrows(StorageException.class, () -> a.acquire(POOL, op("alloc", ""), in(Duration.ofSeconds(2))));

    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("does namespace 'csi' exist?"), e.getMessage());
    long creates = MockRequests.methods(server).stream().filter("POST"::equals).count();
    assertTrue(creates > 1 && creates < 30, creates + " create attempts in 2 s");
  }

  @Test
  void aWaiterPastItsDeadlineIsAbortedWithTheHolderAndItsOperationAndNeverRuns() {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    LeaseStorageLock b = lock("pod-b_2", new ManualScheduler(clock));
    LockHandle held = a.acquire(POOL, op("clone", "base-9000-disk-0"), in(Duration.ofSeconds(5)));
    AtomicBoolean ran = new AtomicBoolean();
    Instant start = clock.instant();

    StorageException e =
        assertThrows(
            StorageException.class,
            () ->
                b.withLock(
                    POOL, op("alloc", ""), in(Duration.ofSeconds(3)), () -> ran.getAndSet(true)));

    assertEquals(ErrorKind.ABORTED, e.kind());
    assertTrue(e.getMessage().contains("held by pod-a_1 for clone base-9000-disk-0"), e.getMessage());
    assertFalse(ran.get());
    Duration waited = Duration.between(start, clock.instant());
    assertTrue(waited.compareTo(Duration.ofSeconds(3)) >= 0 && waited.compareTo(Duration.ofSeconds(4)) < 0, waited.toString());
    held.close();
  }

  @Test
  void aReleasedLockIsTakenByAWaiterWithoutWaitingForExpiry() throws Exception {
    ExecutorService processA = Executors.newSingleThreadExecutor();
    toClose.add(processA::shutdownNow);
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    LockHandle held =
        processA.submit(() -> a.acquire(POOL, op("free", "vm-1-disk-0"), in(Duration.ofSeconds(5)))).get();
    AtomicInteger sleeps = new AtomicInteger();
    Sleeper releaseOnSecondSleep =
        d -> {
          clock.advance(d);
          if (sleeps.incrementAndGet() == 2) {
            try {
              processA.submit(held::close).get();
            } catch (java.util.concurrent.ExecutionException e) {
              throw new AssertionError(e);
            }
          }
        };
    LeaseStorageLock b = lock("pod-b_2", client, new ManualScheduler(clock), releaseOnSecondSleep);
    Instant start = clock.instant();

    try (LockHandle taken = b.acquire(POOL, op("alloc", ""), in(Duration.ofSeconds(60)))) {
      taken.ensureValid();
      assertEquals("pod-b_2", lease(b).getSpec().getHolderIdentity());
      assertEquals(1, lease(b).getSpec().getLeaseTransitions());
    }
    assertTrue(Duration.between(start, clock.instant()).compareTo(Duration.ofSeconds(1)) < 0);
    assertFalse(observer.events().contains("acquired thin takeover=true"));
  }

  @Test
  void aHolderThatStopsRenewingIsTakenOverAfterTheDurationAndFenced() {
    ManualScheduler schedulerA = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", schedulerA);
    LeaseStorageLock b = lock("pod-b_2", new ManualScheduler(clock));
    LockHandle stale = a.acquire(POOL, op("resize", "vm-1-disk-0"), in(Duration.ofSeconds(5)));
    Instant acquired = clock.instant();
    // schedulerA never runs: process A is frozen (GC pause, partition, SIGSTOP).

    LockHandle taken = b.acquire(POOL, op("alloc", ""), in(Duration.ofSeconds(60)));

    Duration waited = Duration.between(acquired, clock.instant());
    assertTrue(waited.compareTo(DURATION) >= 0, waited.toString());
    assertTrue(waited.compareTo(DURATION.plusSeconds(1)) < 0, waited.toString());
    assertEquals("pod-b_2", lease(b).getSpec().getHolderIdentity());
    assertTrue(observer.events().contains("acquired thin takeover=true"));

    // A wakes up: it must not start another command, first by its clock...
    StorageException overdue = assertThrows(StorageException.class, stale::ensureValid);
    assertEquals(ErrorKind.UNAVAILABLE, overdue.kind());
    // ...and once its renewal has run, because the Lease is someone else's.
    schedulerA.runDue();
    StorageException lost = assertThrows(StorageException.class, stale::ensureValid);
    assertEquals(ErrorKind.ABORTED, lost.kind());
    assertTrue(lost.getMessage().contains("now held by pod-b_2"), lost.getMessage());

    stale.close();
    assertEquals("pod-b_2", lease(b).getSpec().getHolderIdentity(), "A's release must not clear B");
    taken.close();
  }

  @Test
  void renewalKeepsTheLeaseFromBeingTakenOver() {
    ManualScheduler schedulerA = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", schedulerA);
    LockHandle held = a.acquire(POOL, op("clone", "vm-1-disk-0"), in(Duration.ofSeconds(5)));
    // B's waiting moves time, and A renews whenever its renewal falls due.
    Sleeper timePassesForBoth =
        d -> {
          clock.advance(d);
          schedulerA.runDue();
        };
    LeaseStorageLock b = lock("pod-b_2", client, new ManualScheduler(clock), timePassesForBoth);

    StorageException e =
        assertThrows(
            StorageException.class, () -> b.acquire(POOL, op("alloc", ""), in(Duration.ofSeconds(40))));

    assertEquals(ErrorKind.ABORTED, e.kind());
    held.ensureValid();
    Instant renewed = lease(a).getSpec().getRenewTime().toInstant();
    assertTrue(Duration.between(renewed, clock.instant()).compareTo(RENEW) <= 0);
    held.close();
  }

  /**
   * Issue 14: on a starved node each renewal can take seconds. The next one is due one interval
   * after the previous one started (the renew time it wrote), so a slow call does not eat into
   * the margin before the fence point. Before, it was due one interval after the call ended:
   * with 3 s answers a renewal started 8 s after the previous one and ended 11 s after it, so
   * the holder was fenced (fence point: 10 s) for a second of every cycle although every
   * renewal succeeded; with 5 s answers (the client's request timeout), 3 s of every 10.
   */
  @Test
  void aSlowRenewalDoesNotPushTheNextOneTowardTheFencePoint() throws Exception {
    Duration answerTime = Duration.ofSeconds(3);
    KubernetesMockServer slow = new KubernetesMockServer(
        new io.fabric8.mockwebserver.Context(),
        new io.fabric8.mockwebserver.MockWebServer(),
        new java.util.HashMap<>(),
        new io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher() {
          @Override
          public io.fabric8.mockwebserver.http.MockResponse dispatch(
              io.fabric8.mockwebserver.http.RecordedRequest request) {
            if (request.getMethod().equals("PUT")) {
              clock.advance(answerTime); // the API server answers a renewal after 3 s
            }
            return super.dispatch(request);
          }
        },
        false);
    slow.init();
    toClose.add(slow::destroy);
    KubernetesClient api = noRetries(slow.getPort());
    toClose.add(api);
    ManualScheduler scheduler = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", api, scheduler, clock.sleeper());
    LockHandle held = a.acquire(POOL, op("resize", "vm-1-disk-0"), in(Duration.ofSeconds(5)));

    for (int renewal = 1; renewal <= 4; renewal++) {
      Instant due = clock.instant().plus(RENEW).minus(renewal == 1 ? Duration.ZERO : answerTime);
      clock.advance(Duration.between(clock.instant(), due));
      assertEquals(1, scheduler.runDue(), "renewal " + renewal + " is due " + due);
      assertEquals(due, api.leases().inNamespace(NS).withName(a.leaseName(POOL)).get().getSpec()
          .getRenewTime().toInstant(), "renewal " + renewal + " wrote the time it started");
      held.ensureValid();
    }
    held.close();
  }

  @Test
  void aConflictDuringRenewalIsResolvedByReadingAgain() throws Exception {
    ManualScheduler schedulerA = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", schedulerA);
    LockHandle held = a.acquire(POOL, op("snapshot", "vm-1-disk-0@s1"), in(Duration.ofSeconds(5)));
    // An operator annotates the Lease: its resourceVersion moves under A.
    Lease current = lease(a);
    client
        .leases()
        .inNamespace(NS)
        .resource(new LeaseBuilder(current).editMetadata().addToAnnotations("note", "looking").endMetadata().build())
        .update();
    MockRequests.drain(server);

    clock.advance(RENEW);
    schedulerA.runDue();

    // PUT with the stale version (409), GET, PUT again.
    assertEquals(List.of("PUT", "GET", "PUT"), MockRequests.methods(server));
    Lease renewed = lease(a);
    assertEquals("pod-a_1", renewed.getSpec().getHolderIdentity());
    assertEquals(clock.instant(), renewed.getSpec().getRenewTime().toInstant());
    assertEquals("looking", renewed.getMetadata().getAnnotations().get("note"));
    held.ensureValid();
    assertEquals(1, schedulerA.pending(), "the next renewal is scheduled");
    held.close();
    assertEquals(0, schedulerA.pending(), "release cancels renewal");
  }

  @Test
  void failingRenewalsFenceTheHolderBeforeTheLeaseCanExpire() throws Exception {
    KubernetesMockServer own = new KubernetesMockServer(
        new io.fabric8.mockwebserver.Context(),
        new io.fabric8.mockwebserver.MockWebServer(),
        new java.util.HashMap<>(),
        new io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher(),
        false);
    own.init();
    KubernetesClient api = noRetries(own.getPort());
    toClose.add(api);
    ManualScheduler schedulerA = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", api, schedulerA, clock.sleeper());
    LockHandle held = a.acquire(POOL, op("free", "vm-1-disk-0"), in(Duration.ofSeconds(5)));
    own.destroy(); // the API server becomes unreachable

    clock.advance(RENEW);
    schedulerA.runDue();
    held.ensureValid(); // one failed renewal: still 10 s before anyone may take over

    clock.advance(RENEW);
    schedulerA.runDue();
    StorageException e = assertThrows(StorageException.class, held::ensureValid);
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("renewal fails"), e.getMessage());
    assertTrue(observer.events().contains("failed thin UNAVAILABLE"));
    held.close(); // must not throw although the release cannot be written
  }

  @Test
  void anUnreachableApiWhileWaitingGivesUnavailableAtTheDeadlineAndTheActionNeverRuns() throws Exception {
    int deadPort;
    try (ServerSocket socket = new ServerSocket(0)) {
      deadPort = socket.getLocalPort();
    }
    KubernetesClient api = noRetries(deadPort);
    toClose.add(api);
    LeaseStorageLock a = lock("pod-a_1", api, new ManualScheduler(clock), clock.sleeper());
    AtomicBoolean ran = new AtomicBoolean();
    Instant deadline = in(Duration.ofSeconds(3));

    StorageException e =
        assertThrows(
            StorageException.class,
            () -> a.withLock(POOL, op("alloc", ""), deadline, () -> ran.getAndSet(true)));

    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("the Kubernetes API failed"), e.getMessage());
    assertFalse(ran.get());
    assertFalse(clock.instant().isBefore(deadline));
    assertTrue(observer.events().contains("failed thin UNAVAILABLE"));
  }

  @Test
  void aBurstOfQueuedOperationsSharesOneAcquisition() throws Exception {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    int operations = 100;
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger maxInside = new AtomicInteger();
    ExecutorService callers = Executors.newFixedThreadPool(operations);
    toClose.add(callers::shutdownNow);
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    for (int i = 0; i < operations; i++) {
      String volume = "vm-100-disk-" + i;
      done.add(
          callers.submit(
              () -> {
                go.await();
                return a.withLock(
                    POOL,
                    op("alloc", volume),
                    in(Duration.ofSeconds(30)),
                    () -> {
                      maxInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                      Thread.sleep(1);
                      inside.decrementAndGet();
                      return null;
                    });
              }));
    }
    go.countDown();
    for (Future<?> f : done) {
      f.get(20, TimeUnit.SECONDS);
    }

    assertEquals(1, maxInside.get());
    long writes = MockRequests.writes(server);
    assertTrue(writes <= 4, "100 queued operations cost " + writes + " writes");
    assertNull(lease(a).getSpec().getHolderIdentity(), "released when the queue drained");
  }

  @Test
  void theBatchBoundReleasesTheLeaseAndPausesSoOthersGetATurn() throws Exception {
    ManualScheduler scheduler = new ManualScheduler(clock);
    LeaseStorageLock a = lock("pod-a_1", scheduler);
    ExecutorService first = Executors.newSingleThreadExecutor();
    ExecutorService second = Executors.newSingleThreadExecutor();
    toClose.add(first::shutdownNow);
    toClose.add(second::shutdownNow);
    LockHandle held =
        first.submit(() -> a.acquire(POOL, op("alloc", "vm-1-disk-0"), in(Duration.ofSeconds(60)))).get();
    Thread[] waiter = new Thread[1];
    Future<Instant> next =
        second.submit(
            () -> {
              waiter[0] = Thread.currentThread();
              LockHandle h = a.acquire(POOL, op("alloc", "vm-1-disk-1"), in(Duration.ofSeconds(60)));
              Instant acquiredAt = clock.instant();
              h.close();
              return acquiredAt;
            });
    while (waiter[0] == null || waiter[0].getState() != Thread.State.TIMED_WAITING) {
      Thread.onSpinWait();
    }
    clock.advance(Duration.ofSeconds(4)); // renewals keep it valid past the batch bound
    scheduler.runDue();
    clock.advance(Duration.ofSeconds(2));
    Instant released = clock.instant();
    MockRequests.drain(server);

    first.submit(held::close).get();
    Instant reacquired = next.get(10, TimeUnit.SECONDS);

    // Released (PUT), then taken again (PUT) after the pause, and released at the end (PUT).
    assertEquals(List.of("PUT", "PUT", "PUT"), MockRequests.methods(server));
    assertTrue(Duration.between(released, reacquired).compareTo(Duration.ofMillis(250)) >= 0);
  }

  @Test
  void aThreadSeesItsOwnHandleAndMayLockAgain() throws Exception {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    assertTrue(a.currentHandle(POOL).isEmpty());
    try (LockHandle outer = a.acquire(POOL, op("free", "vm-1-disk-0"), in(Duration.ofSeconds(5)))) {
      assertSame(outer, a.currentHandle(POOL).orElseThrow());
      ExecutorService other = Executors.newSingleThreadExecutor();
      assertTrue(other.submit(() -> a.currentHandle(POOL).isEmpty()).get());
      other.shutdown();
      try (LockHandle nested = a.acquire(POOL, op("resize", "vm-1-disk-0"), in(Duration.ofSeconds(5)))) {
        nested.ensureValid();
        assertEquals("free", nested.operation().verb());
      }
      assertSame(outer, a.currentHandle(POOL).orElseThrow(), "closing the nested handle keeps the lock");
      outer.ensureValid();
    }
    assertTrue(a.currentHandle(POOL).isEmpty());
    assertNull(lease(a).getSpec().getHolderIdentity());
  }

  @Test
  void aClosedHandleIsNoLongerValid() {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    LockHandle handle = a.acquire(POOL, op("free", "vm-1-disk-0"), in(Duration.ofSeconds(5)));
    handle.close();
    handle.close(); // idempotent
    assertEquals(ErrorKind.ABORTED, assertThrows(StorageException.class, handle::ensureValid).kind());
  }

  @Test
  void aShutDownLockRefusesNewOperations() {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    a.close();
    StorageException e =
        assertThrows(StorageException.class, () -> a.acquire(POOL, op("free", "x"), in(Duration.ofSeconds(1))));
    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
  }

  @Test
  void accessCheckNamesTheMissingVerbsAndNamespace() {
    answerAccessReviews(verb -> !verb.equals("update"));
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));

    StorageException e = assertThrows(StorageException.class, a::checkAccess);

    assertEquals(ErrorKind.PRECONDITION, e.kind());
    assertTrue(e.getMessage().contains("verbs [update] on resource leases"), e.getMessage());
    assertTrue(e.getMessage().contains("namespace 'csi'"), e.getMessage());
  }

  @Test
  void accessCheckPassesWhenRbacAllowsEverything() {
    answerAccessReviews(verb -> true);
    lock("pod-a_1", new ManualScheduler(clock)).checkAccess();
  }

  @Test
  void accessCheckIsUnavailableWhenTheApiServerCannotAnswer() {
    server
        .expect()
        .post()
        .withPath("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .andReturn(503, "etcd is down")
        .always();
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));

    StorageException e = assertThrows(StorageException.class, a::checkAccess);

    assertEquals(ErrorKind.UNAVAILABLE, e.kind());
    assertTrue(e.getMessage().contains("cannot check access to Leases in namespace 'csi'"),
        e.getMessage());
  }

  /** Answers SelfSubjectAccessReviews as an API server with the given RBAC would. */
  private void answerAccessReviews(java.util.function.Predicate<String> allowed) {
    server
        .expect()
        .post()
        .withPath("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .andReply(
            200,
            request -> {
              var review =
                  io.fabric8.kubernetes.client.utils.Serialization.unmarshal(
                      request.getBody().readUtf8(),
                      io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview.class);
              review.setStatus(
                  new io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewStatus(
                      allowed.test(review.getSpec().getResourceAttributes().getVerb()),
                      false,
                      null,
                      null));
              return review;
            })
        .always();
  }

  @Test
  void twoStoragesUseTwoLeases() {
    LeaseStorageLock a = lock("pod-a_1", new ManualScheduler(clock));
    try (LockHandle thin = a.acquire("thin", op("alloc", ""), in(Duration.ofSeconds(1)));
        LockHandle zfs = a.acquire("tank", op("alloc", ""), in(Duration.ofSeconds(1)))) {
      assertNotEquals(a.leaseName("thin"), a.leaseName("tank"));
      thin.ensureValid();
      zfs.ensureValid();
    }
  }

  private static KubernetesClient noRetries(int port) {
    return new KubernetesClientBuilder()
        .withConfig(
            new ConfigBuilder()
                .withMasterUrl("http://127.0.0.1:" + port)
                .withNamespace(NS)
                .withRequestRetryBackoffLimit(0)
                .withConnectionTimeout(1000)
                .withRequestTimeout(2000)
                .build())
        .build();
  }
}
