package io.csi.pvestorage.lock;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Measures the Lease lock on the fabric8 mock API server (CRUD mode): API writes per operation
 * for 1 and for 100 queued operations of one process, and throughput with 1, 2 and 4 competing
 * processes (lock instances with their own clients). Not a test: run it by hand, see
 * src/site/markdown/lock.md. Writes are counted from the requests the mock server recorded.
 *
 * <p>Arguments (optional): seconds per throughput run (default 12), milliseconds each operation
 * holds the lock (default 1).
 */
public final class LockBenchmark {

  private static final String POOL = "thin";

  private final KubernetesMockServer server;
  private final Clock clock = Clock.systemUTC();
  private final List<AutoCloseable> resources = new ArrayList<>();

  private LockBenchmark(KubernetesMockServer server) {
    this.server = server;
  }

  public static void main(String[] args) throws Exception {
    Logger quiet = MockRequests.quiet();
    int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 12;
    int workMillis = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    KubernetesMockServer server =
        new KubernetesMockServer(
            new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
    server.init();
    LockBenchmark benchmark = new LockBenchmark(server);
    try {
      System.out.println(
          "settings: " + LeaseLockSettings.defaults("csi", "node1", "bench") + ", work per operation " + workMillis + " ms");
      benchmark.writesPerOperation(workMillis);
      for (int processes : new int[] {1, 2, 4}) {
        benchmark.throughput(processes, 4, Duration.ofSeconds(seconds), workMillis);
      }
    } finally {
      benchmark.close();
      server.destroy();
    }
    quiet.fine("done"); // keeps the quietened logger reachable until the end (JUL holds it weakly)
  }

  private LeaseStorageLock process(String holder) {
    return process(LeaseLockSettings.defaults("csi", "node1", holder));
  }

  /** A process with the default settings but the given linger. */
  private LeaseStorageLock process(String holder, Duration linger) {
    LeaseLockSettings d = LeaseLockSettings.defaults("csi", "node1", holder);
    return process(new LeaseLockSettings(d.namespace(), d.nodeName(), d.holderIdentity(),
        d.leaseDuration(), d.renewInterval(), d.maxBatchHold(), d.retryMin(), d.retryMax(),
        linger));
  }

  private LeaseStorageLock process(LeaseLockSettings settings) {
    KubernetesClient api = server.createClient();
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    LeaseStorageLock lock =
        new LeaseStorageLock(
            api,
            settings,
            Optional.empty(),
            scheduler,
            clock,
            ThreadLocalRandom.current(),
            Sleeper.SYSTEM,
            LockObserver.NONE);
    resources.add(api);
    resources.add(scheduler::shutdownNow);
    resources.add(lock);
    return lock;
  }

  private void writesPerOperation(int workMillis) throws Exception {
    LeaseStorageLock lock = process("bench-single_1");
    int sequential = 20;
    Duration linger = LeaseLockSettings.DEFAULT_LINGER;
    for (Duration kept : List.of(Duration.ZERO, linger)) {
      LeaseStorageLock one = process("bench-one-" + kept.toMillis() + "_1", kept);
      one.withLock(POOL, Operation.of("alloc", "warm-up", clock), clock.instant().plusSeconds(10), () -> null);
      Thread.sleep(kept.toMillis() + 500);
      MockRequests.drain(server);
      for (int i = 0; i < sequential; i++) {
        one.withLock(
            POOL, Operation.of("alloc", "vm-1-disk-" + i, clock), clock.instant().plusSeconds(10), () -> work(workMillis));
      }
      Thread.sleep(kept.toMillis() + 500); // the lingering Lease is released meanwhile
      Counts counts = counts();
      System.out.printf(
          Locale.ROOT,
          "1 operation at a time (%d in sequence, linger %d ms): %.2f writes/op, %.2f reads/op%n",
          sequential,
          kept.toMillis(),
          counts.writes / (double) sequential,
          counts.reads / (double) sequential);
      one.close();
    }
    lock.withLock(POOL, Operation.of("alloc", "warm-up", clock), clock.instant().plusSeconds(10), () -> null);
    Thread.sleep(linger.toMillis() + 500);
    MockRequests.drain(server);

    int burst = 100;
    for (int round = 1; round <= 3; round++) {
      ExecutorService callers = Executors.newFixedThreadPool(burst);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < burst; i++) {
        String volume = "vm-2-disk-" + i;
        done.add(
            callers.submit(
                () -> {
                  go.await();
                  return lock.withLock(
                      POOL, Operation.of("alloc", volume, clock), clock.instant().plusSeconds(60), () -> work(workMillis));
                }));
      }
      long start = System.nanoTime();
      go.countDown();
      for (Future<?> f : done) {
        f.get();
      }
      long millis = (System.nanoTime() - start) / 1_000_000;
      callers.shutdown();
      Counts queued = counts();
      System.out.printf(
          Locale.ROOT,
          "%d queued operations in one process (round %d): %d writes in total = %.3f writes/op, %d reads, %d ms%n",
          burst,
          round,
          queued.writes,
          queued.writes / (double) burst,
          queued.reads,
          millis);
    }
  }

  private void throughput(int processes, int threadsPerProcess, Duration duration, int workMillis) throws Exception {
    MockRequests.drain(server);
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger violations = new AtomicInteger();
    AtomicLong[] perProcess = new AtomicLong[processes];
    ExecutorService callers = Executors.newFixedThreadPool(processes * threadsPerProcess);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    Instant[] end = new Instant[1];
    for (int p = 0; p < processes; p++) {
      LeaseStorageLock lock = process("bench-" + processes + "-" + p + "_" + p);
      AtomicLong ops = perProcess[p] = new AtomicLong();
      for (int t = 0; t < threadsPerProcess; t++) {
        done.add(
            callers.submit(
                () -> {
                  go.await();
                  while (clock.instant().isBefore(end[0])) {
                    lock.withLock(
                        POOL,
                        Operation.of("alloc", "", clock),
                        clock.instant().plusSeconds(60),
                        () -> {
                          if (inside.incrementAndGet() != 1) {
                            violations.incrementAndGet();
                          }
                          work(workMillis);
                          inside.decrementAndGet();
                          return ops.incrementAndGet();
                        });
                  }
                  return null;
                }));
      }
    }
    long start = System.nanoTime();
    end[0] = clock.instant().plus(duration);
    go.countDown();
    for (Future<?> f : done) {
      f.get();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    callers.shutdown();
    long total = 0;
    StringBuilder split = new StringBuilder();
    for (AtomicLong ops : perProcess) {
      total += ops.get();
      split.append(split.isEmpty() ? "" : "/").append(ops.get());
    }
    Counts counts = counts();
    System.out.printf(
        Locale.ROOT,
        "%d process(es) x %d threads, %.1f s: %.0f ops/s, per process %s, %.4f writes/op, %.3f reads/op, overlaps %d%n",
        processes,
        threadsPerProcess,
        seconds,
        total / seconds,
        split,
        counts.writes / (double) total,
        counts.reads / (double) total,
        violations.get());
  }

  private static Object work(int millis) throws InterruptedException {
    if (millis > 0) {
      Thread.sleep(millis);
    }
    return null;
  }

  private record Counts(long writes, long reads) {}

  private Counts counts() throws InterruptedException {
    List<String> methods = MockRequests.drain(server).stream().map(r -> r.substring(0, r.indexOf(' '))).toList();
    long reads = methods.stream().filter("GET"::equals).count();
    return new Counts(methods.size() - reads, reads);
  }

  private void close() throws Exception {
    for (AutoCloseable r : resources.reversed()) {
      r.close();
    }
  }
}
