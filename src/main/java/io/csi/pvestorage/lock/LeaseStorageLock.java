package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.random.RandomGenerator;

/**
 * The storage lock of a driver running in Kubernetes: per (node, storage) a {@code
 * coordination.k8s.io/v1} Lease in the driver's namespace, so that every process that can touch
 * a node's pools (the node plugin, a second replica during a rolling update, the {@code client}
 * CLI with a kubeconfig) excludes the others, and an operator sees who holds it ({@code kubectl
 * get lease}).
 *
 * <h2>Protocol</h2>
 *
 * <ol>
 *   <li>Callers of this process queue on a fair local lock per storage.
 *   <li>The queue's head takes the Lease {@code pve-storage-<node>-<storeid>-<hash>}: it creates
 *       it if missing, or, when it is free (no holder), expired (renew time + duration in the
 *       past) or already its own, updates it with the {@code resourceVersion} it read. The API
 *       server accepts only one of several concurrent writers; the others get HTTP 409, read
 *       again and wait. It writes {@code holderIdentity}, {@code leaseDurationSeconds}, {@code
 *       acquireTime}, {@code renewTime}, {@code leaseTransitions} (+1 per change of holder) and
 *       the annotation {@code pve-storage.csi.io/operation} (e.g. {@code alloc vm-100-disk-1
 *       since 2026-11-24T18:00:00Z}). Taking over an expired Lease is logged with the previous
 *       holder and its operation.
 *   <li>Waiting for a Lease held elsewhere polls it (reads only) with exponential back-off and
 *       jitter, from {@code retryMin} to {@code retryMax}. Past the deadline the caller gets
 *       ABORTED naming the holder and its operation, or UNAVAILABLE when the last problem was
 *       the API server itself.
 *   <li>While held, the Lease is renewed every {@code renewInterval} on the injected scheduler
 *       (at a fixed rate, counted from the start of the previous renewal), which also refreshes
 *       the operation annotation. A 409 during renewal is answered by
 *       reading the Lease: still ours (someone edited it) means retry; someone else's means the
 *       Lease is lost and every handle's {@link LockHandle#ensureValid()} fails with ABORTED.
 *       Renewals that keep failing make {@code ensureValid()} fail with UNAVAILABLE from the last
 *       successful renewal + duration - renew interval: the holder stops starting commands before
 *       anyone else may take the Lease over.
 *   <li>When an operation ends and more are queued locally, the Lease passes to the next one
 *       without an API call, until the queue drains or {@code maxBatchHold} has passed since the
 *       acquisition; then the holder is cleared with one update (waiters need not wait for
 *       expiry), and after a batch-bound release this process pauses {@code retryMax} before
 *       taking it again, long enough for every waiting process to poll once. When the queue
 *       drains, the Lease is kept for {@code linger} (within the same batch bound) and handed to
 *       an operation that arrives meanwhile without an API call; otherwise the scheduler clears
 *       it when the linger ends, or at once when this lock is closed.
 *   <li>With {@link PveFlock} configured, each operation also takes PVE's flock after the
 *       Lease, released before it.
 * </ol>
 *
 * <h2>Cost</h2>
 *
 * One uncontended operation costs two API writes (take, release) and no read once the Lease is
 * known; renewals add one write per {@code renewInterval} of holding. A burst of queued
 * operations costs two writes per {@code maxBatchHold}, not two per operation, and so do
 * operations that follow each other within {@code linger}.
 *
 * <h2>Limits</h2>
 *
 * Expiry compares the holder's {@code renewTime} with this process's clock; all holders of a
 * Lease run on the same node, so there is no skew between machines. A command already running
 * when the Lease is lost is not stopped (commands that change storage are never killed); the
 * holder starts no further one, and the next holder waits for it before its own first command
 * (see {@code FencedCommandRunner}: commands carry the holder's identity in their environment,
 * and a launch gate closes the window between a holder's check and its command's start). API
 * calls are
 * synchronous: a call that hangs can overrun the deadline by the client's request timeout, so
 * the application should give the client a short one (a few seconds) and no retries of its own.
 */
public final class LeaseStorageLock implements StorageLock {

  private final KubernetesClient client;
  private final LeaseLockSettings settings;
  private final QueuedStorageLock engine;

  /**
   * @param client a client for the API server; configure a short request timeout
   * @param settings namespace, node, identity and timings
   * @param pveFlock PVE's flock, on Proxmox VE hosts; empty elsewhere
   * @param scheduler runs renewals; one thread is enough; owned by the caller
   * @param clock the time used for Lease timestamps, expiry, deadlines and fencing
   * @param random jitter of the back-off
   * @param sleeper how waiting is done ({@link Sleeper#SYSTEM} in production)
   * @param observer told about waits, holds, acquisitions, takeovers and failures
   */
  public LeaseStorageLock(
      KubernetesClient client,
      LeaseLockSettings settings,
      Optional<PveFlock> pveFlock,
      ScheduledExecutorService scheduler,
      Clock clock,
      RandomGenerator random,
      Sleeper sleeper,
      LockObserver observer) {
    this(client, settings, pveFlock, scheduler, clock, random, sleeper, observer,
        StorageStalls.NONE);
  }

  /**
   * As the constructor above, with the storages' stall check.
   *
   * @param stalls which storages refuse new operations because a command of theirs stalled
   */
  public LeaseStorageLock(
      KubernetesClient client,
      LeaseLockSettings settings,
      Optional<PveFlock> pveFlock,
      ScheduledExecutorService scheduler,
      Clock clock,
      RandomGenerator random,
      Sleeper sleeper,
      LockObserver observer,
      StorageStalls stalls) {
    this.client = Objects.requireNonNull(client, "client");
    this.settings = Objects.requireNonNull(settings, "settings");
    Objects.requireNonNull(scheduler, "scheduler");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(random, "random");
    Objects.requireNonNull(sleeper, "sleeper");
    Objects.requireNonNull(observer, "observer");
    this.engine =
        new QueuedStorageLock(
            storeid ->
                new LeasePool(
                    storeid, client, settings, scheduler, clock, random, sleeper, observer),
            pveFlock,
            clock,
            observer,
            settings.holderIdentity(),
            stalls);
  }

  /** The name of the Lease that locks {@code storeid} on this node. */
  public String leaseName(String storeid) {
    return settings.leaseName(storeid);
  }

  /**
   * Checks at start-up that this process may use Leases in its namespace, with one
   * SelfSubjectAccessReview per verb it needs (get, create, update). The three reviews are sent
   * at once, each on a virtual thread: readiness waits for this check, and three sequential
   * round trips (each a TLS request on a cold client) were most of the node plugin's start-up.
   *
   * @throws StorageException PRECONDITION naming the namespace and the verbs RBAC denies;
   *     UNAVAILABLE when the API server cannot be asked
   */
  public void checkAccess() {
    List<String> verbs = List.of("get", "create", "update");
    List<Future<Boolean>> answers = new ArrayList<>();
    try (var reviews = Executors.newVirtualThreadPerTaskExecutor()) {
      for (String verb : verbs) {
        answers.add(reviews.submit(() -> allowed(verb)));
      }
    }
    List<String> denied = new ArrayList<>();
    for (int i = 0; i < verbs.size(); i++) {
      Future<Boolean> answer = answers.get(i);
      if (answer.state() == Future.State.FAILED) {
        Throwable failure = answer.exceptionNow();
        if (failure instanceof KubernetesClientException e) {
          throw new StorageException(
              ErrorKind.UNAVAILABLE,
              "cannot check access to Leases in namespace '"
                  + settings.namespace()
                  + "': "
                  + e.getMessage(),
              e);
        }
        throw failure instanceof RuntimeException r ? r : new IllegalStateException(failure);
      }
      if (answer.state() != Future.State.SUCCESS) {
        // Cancelled: this thread was interrupted while the reviews ran (the process stops).
        throw new StorageException(ErrorKind.UNAVAILABLE,
            "interrupted while checking access to Leases in namespace '" + settings.namespace()
                + "'");
      }
      if (!answer.resultNow()) {
        denied.add(verbs.get(i));
      }
    }
    if (!denied.isEmpty()) {
      throw new StorageException(
          ErrorKind.PRECONDITION,
          "the storage lock needs RBAC verbs "
              + denied
              + " on resource leases (group coordination.k8s.io) in namespace '"
              + settings.namespace()
              + "'; grant them with a Role and RoleBinding for the driver's service account");
    }
  }

  /**
   * Asks the API server whether this process may use {@code verb} on Leases in its namespace;
   * throws {@link KubernetesClientException} when it cannot be asked.
   */
  private boolean allowed(String verb) {
    SelfSubjectAccessReview review =
        new SelfSubjectAccessReviewBuilder()
            .withNewSpec()
            .withNewResourceAttributes()
            .withGroup("coordination.k8s.io")
            .withResource("leases")
            .withVerb(verb)
            .withNamespace(settings.namespace())
            .endResourceAttributes()
            .endSpec()
            .build();
    SelfSubjectAccessReview answer =
        client.authorization().v1().selfSubjectAccessReview().create(review);
    return answer.getStatus() != null && Boolean.TRUE.equals(answer.getStatus().getAllowed());
  }

  @Override
  public LockHandle acquire(String storeid, Operation operation, Instant deadline) {
    return engine.acquire(storeid, operation, deadline);
  }

  @Override
  public Optional<LockHandle> currentHandle(String storeid) {
    return engine.currentHandle(storeid);
  }

  @Override
  public void close() {
    engine.close();
  }
}
