package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.lang.System.Logger.Level;
import java.net.HttpURLConnection;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.random.RandomGenerator;

/**
 * The Lease of one storage, as seen by this process: acquisition by compare-and-swap,
 * background renewal, fencing, release. See {@link LeaseStorageLock} for the protocol.
 */
final class LeasePool implements PoolExclusion {

  static final String ANNOTATION_OPERATION = "pve-storage.csi.io/operation";
  static final String ANNOTATION_NODE = "pve-storage.csi.io/node";
  static final String ANNOTATION_STORAGE = "pve-storage.csi.io/storage";
  static final String LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
  static final String MANAGED_BY = "pve-storage-csi";

  private static final System.Logger LOG = System.getLogger(LeaseStorageLock.class.getName());

  private final String storeid;
  private final String leaseName;
  private final KubernetesClient client;
  private final LeaseLockSettings settings;
  private final ScheduledExecutorService scheduler;
  private final Clock clock;
  private final RandomGenerator random;
  private final Sleeper sleeper;
  private final LockObserver observer;

  /** Guards the fields below; held around API calls, never while sleeping. */
  private final ReentrantLock state = new ReentrantLock();

  /** The Lease as last read or written; null when it must be read again. */
  private Lease known;
  /** Non-null while this process holds the Lease. */
  private Tenure tenure;
  /** The operation now running under the Lease, written on acquisition and renewals. */
  private Operation running;
  /** The release planned for the end of the linger after a burst; null when none is pending. */
  private ScheduledFuture<?> lingering;
  /** Tells the planned release that is still wanted from earlier ones that were called off. */
  private long lingerGeneration;
  /** After a release forced by the batch bound: do not take the Lease again before this. */
  private volatile Instant notBefore = Instant.MIN;

  LeasePool(
      String storeid,
      KubernetesClient client,
      LeaseLockSettings settings,
      ScheduledExecutorService scheduler,
      Clock clock,
      RandomGenerator random,
      Sleeper sleeper,
      LockObserver observer) {
    this.storeid = storeid;
    this.leaseName = settings.leaseName(storeid);
    this.client = client;
    this.settings = settings;
    this.scheduler = scheduler;
    this.clock = clock;
    this.random = random;
    this.sleeper = sleeper;
    this.observer = observer;
  }

  String leaseName() {
    return leaseName;
  }

  // ---------------------------------------------------------------- acquisition

  @Override
  public Fence hold(Operation operation, Instant deadline) {
    state.lock();
    try {
      running = operation;
      stopLingering();
      if (tenure != null) {
        if (tenure.isValid(clock.instant())) {
          return tenure;
        }
        // Not renewed in time: start over; the CAS below decides whether it is still ours.
        endTenure();
      }
    } finally {
      state.unlock();
    }
    return acquire(operation, deadline);
  }

  private Tenure acquire(Operation operation, Instant deadline) {
    long backoff = settings.retryMin().toNanos();
    String lastProblem = "no attempt was made";
    ErrorKind lastKind = ErrorKind.ABORTED;
    while (true) {
      Instant now = clock.instant();
      boolean retryAtOnce = false;
      if (now.isBefore(notBefore)) {
        lastProblem = "this process released the Lease to let other processes take a turn";
      } else {
        boolean creating = false;
        state.lock();
        try {
          Lease lease = known != null ? known : read();
          if (lease == null) {
            creating = true;
            Lease created = leases().resource(newLease(operation, now)).create();
            return startTenure(created, now, null);
          }
          LeaseSpec spec = specOf(lease);
          String holder = spec.getHolderIdentity();
          boolean free = holder == null || holder.isEmpty();
          boolean mine = settings.holderIdentity().equals(holder);
          if (free || mine || expired(spec, now)) {
            Lease updated = leases().resource(claimed(lease, operation, now, mine)).update();
            return startTenure(updated, now, free || mine ? null : lease);
          }
          known = null; // the holder will change it; read again next time
          lastProblem = "held by " + describeHolder(lease);
          lastKind = ErrorKind.ABORTED;
        } catch (KubernetesClientException e) {
          known = null;
          if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
            // Someone else created or claimed it first: read it again and look.
            lastProblem = "another process claimed the Lease at the same moment";
            lastKind = ErrorKind.ABORTED;
            retryAtOnce = true;
          } else if (e.getCode() == HttpURLConnection.HTTP_NOT_FOUND && creating) {
            lastProblem =
                "cannot create the Lease: does namespace '" + settings.namespace() + "' exist? " + describe(e);
            lastKind = ErrorKind.UNAVAILABLE;
          } else if (e.getCode() == HttpURLConnection.HTTP_NOT_FOUND) {
            // Deleted since we last saw it (by an operator, say): read again, then create.
            lastProblem = "the Lease was deleted while we were taking it";
            lastKind = ErrorKind.ABORTED;
            retryAtOnce = true;
          } else {
            lastProblem = "the Kubernetes API failed: " + describe(e);
            lastKind = ErrorKind.UNAVAILABLE;
            LOG.log(Level.DEBUG, "lease {0}: {1}", leaseName, lastProblem);
          }
        } finally {
          state.unlock();
        }
      }
      now = clock.instant();
      if (!now.isBefore(deadline)) {
        throw new StorageException(
            lastKind,
            "could not lock storage '"
                + storeid
                + "' (Lease "
                + settings.namespace()
                + "/"
                + leaseName
                + ") for "
                + operation.describe()
                + " before the deadline "
                + deadline
                + ": "
                + lastProblem);
      }
      if (retryAtOnce) {
        continue;
      }
      long remaining = Duration.between(now, deadline).toNanos();
      long sleep = backoff / 2 + random.nextLong(backoff / 2 + 1);
      if (now.isBefore(notBefore)) {
        sleep = Duration.between(now, notBefore).toNanos();
      }
      try {
        sleeper.sleep(Duration.ofNanos(Math.min(sleep, remaining)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StorageException(
            ErrorKind.ABORTED,
            "interrupted while waiting for the lock of storage '" + storeid + "' (" + lastProblem + ")",
            e);
      }
      backoff = Math.min(backoff * 2, settings.retryMax().toNanos());
    }
  }

  /** Called with {@link #state} held, after this process wrote itself into the Lease. */
  private Tenure startTenure(Lease lease, Instant now, Lease takenFrom) {
    known = lease;
    tenure = new Tenure(now);
    scheduleRenewal(tenure, settings.renewInterval());
    if (takenFrom != null) {
      LeaseSpec old = specOf(takenFrom);
      LOG.log(
          Level.WARNING,
          "took over Lease {0}/{1} of storage ''{2}'' from {3}: it expired (last renewed {4}, "
              + "duration {5} s) while running: {6}",
          settings.namespace(),
          leaseName,
          storeid,
          old.getHolderIdentity(),
          old.getRenewTime() == null ? "never" : old.getRenewTime().toInstant(),
          old.getLeaseDurationSeconds(),
          annotation(takenFrom));
    }
    observer.leaseAcquired(storeid, takenFrom != null);
    return tenure;
  }

  private Lease newLease(Operation operation, Instant now) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(LABEL_MANAGED_BY, MANAGED_BY);
    return new LeaseBuilder()
        .withNewMetadata()
        .withName(leaseName)
        .withNamespace(settings.namespace())
        .withLabels(labels)
        .addToAnnotations(ANNOTATION_NODE, settings.nodeName())
        .addToAnnotations(ANNOTATION_STORAGE, storeid)
        .addToAnnotations(ANNOTATION_OPERATION, operation.describe())
        .endMetadata()
        .withNewSpec()
        .withHolderIdentity(settings.holderIdentity())
        .withLeaseDurationSeconds((int) settings.leaseDuration().toSeconds())
        .withAcquireTime(micro(now))
        .withRenewTime(micro(now))
        .withLeaseTransitions(0)
        .endSpec()
        .build();
  }

  /** A copy of {@code lease} naming this process as holder; keeps its resourceVersion (CAS). */
  private Lease claimed(Lease lease, Operation operation, Instant now, boolean mine) {
    LeaseSpec old = specOf(lease);
    int transitions = old.getLeaseTransitions() == null ? 0 : old.getLeaseTransitions();
    return new LeaseBuilder(lease)
        .editMetadata()
        .addToAnnotations(ANNOTATION_OPERATION, operation.describe())
        .endMetadata()
        .editOrNewSpec()
        .withHolderIdentity(settings.holderIdentity())
        .withLeaseDurationSeconds((int) settings.leaseDuration().toSeconds())
        .withAcquireTime(micro(now))
        .withRenewTime(micro(now))
        // A transition is a change of holder (from nobody, too), as client-go counts them.
        .withLeaseTransitions(transitions + (mine ? 0 : 1))
        .endSpec()
        .build();
  }

  private boolean expired(LeaseSpec spec, Instant now) {
    // All holders of one Lease run on the same node (the pools are node-local), so comparing
    // the holder's renewTime with our clock involves no clock skew between machines.
    ZonedDateTime last = spec.getRenewTime() != null ? spec.getRenewTime() : spec.getAcquireTime();
    Integer seconds = spec.getLeaseDurationSeconds();
    if (last == null || seconds == null) {
      return true;
    }
    return !now.isBefore(last.toInstant().plusSeconds(seconds));
  }

  // ---------------------------------------------------------------- batching and release

  @Override
  public boolean mayKeep() {
    state.lock();
    try {
      Instant now = clock.instant();
      return tenure != null
          && tenure.isValid(now)
          && now.isBefore(tenure.acquiredAt.plus(settings.maxBatchHold()));
    } finally {
      state.unlock();
    }
  }

  /**
   * Keeps the Lease for {@link LeaseLockSettings#linger()} when the batch bound allows it, so
   * that an operation arriving meanwhile needs no API call; the release then runs on the
   * scheduler. Without a linger, or past the bound, releases at once.
   */
  @Override
  public void idle() {
    state.lock();
    try {
      stopLingering();
      Duration linger = settings.linger();
      Instant now = clock.instant();
      if (tenure == null || linger.isZero() || !tenure.isValid(now)
          || !now.plus(linger).isBefore(tenure.acquiredAt.plus(settings.maxBatchHold()))) {
        releaseLocked(false);
        return;
      }
      long generation = ++lingerGeneration;
      lingering = scheduler.schedule(() -> lingerEnded(generation), linger.toNanos(),
          TimeUnit.NANOSECONDS);
    } finally {
      state.unlock();
    }
  }

  /** Runs on the scheduler: the linger passed and no operation took the hold back. */
  private void lingerEnded(long generation) {
    state.lock();
    try {
      if (lingering != null && lingerGeneration == generation) {
        lingering = null;
        releaseLocked(false);
      }
    } finally {
      state.unlock();
    }
  }

  /** Called with {@link #state} held: forgets a pending linger release. */
  private void stopLingering() {
    if (lingering != null) {
      lingering.cancel(false);
      lingering = null;
    }
  }

  @Override
  public void release(boolean yieldToOthers) {
    state.lock();
    try {
      stopLingering();
      releaseLocked(yieldToOthers);
    } finally {
      state.unlock();
    }
  }

  /** Called with {@link #state} held. */
  private void releaseLocked(boolean yieldToOthers) {
    if (tenure == null) {
      return;
    }
    endTenure();
    if (yieldToOthers) {
      notBefore = clock.instant().plus(settings.retryMax());
    }
    for (int attempt = 0; attempt < 3; attempt++) {
      try {
        Lease lease = known != null ? known : read();
        if (lease == null || !settings.holderIdentity().equals(specOf(lease).getHolderIdentity())) {
          return; // deleted or already someone else's
        }
        known = leases().resource(released(lease)).update();
        return;
      } catch (KubernetesClientException e) {
        known = null;
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
          LOG.log(
              Level.WARNING,
              "could not release Lease {0}/{1}; it expires after {2} s: {3}",
              settings.namespace(),
              leaseName,
              settings.leaseDuration().toSeconds(),
              describe(e));
          return;
        }
        // Someone changed it (an annotation, say): read again and retry if still ours.
      }
    }
  }

  private Lease released(Lease lease) {
    Lease copy = new LeaseBuilder(lease).build();
    LeaseSpec spec = copy.getSpec();
    spec.setHolderIdentity(null);
    spec.setAcquireTime(null);
    spec.setRenewTime(micro(clock.instant()));
    Map<String, String> annotations = copy.getMetadata().getAnnotations();
    if (annotations != null) {
      annotations.remove(ANNOTATION_OPERATION);
    }
    return copy;
  }

  /** Called with {@link #state} held. */
  private void endTenure() {
    if (tenure != null) {
      tenure.cancelRenewal();
      tenure = null;
    }
  }

  // ---------------------------------------------------------------- renewal

  private void scheduleRenewal(Tenure t, Duration delay) {
    t.renewal = scheduler.schedule(() -> renew(t), delay.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * The next renewal is due one interval after this one started, not after it ended. The fence
   * point counts from the start (the renew time written), so a slow API call (seconds on a
   * starved node) would otherwise move every later renewal that much closer to the fence; with
   * a fixed rate the holder keeps its whole margin for the next call, however long this one took.
   */
  private Duration untilNextRenewal(Instant started) {
    Duration left = settings.renewInterval().minus(Duration.between(started, clock.instant()));
    return left.isNegative() ? Duration.ZERO : left;
  }

  /** Runs on the scheduler. */
  void renew(Tenure t) {
    state.lock();
    try {
      for (int attempt = 0; attempt < 2; attempt++) {
        if (tenure != t) {
          return;
        }
        Instant now = clock.instant();
        try {
          LeaseBuilder renewed = new LeaseBuilder(known);
          renewed.editOrNewSpec().withRenewTime(micro(now)).endSpec();
          if (running != null) {
            renewed.editOrNewMetadata().addToAnnotations(ANNOTATION_OPERATION, running.describe()).endMetadata();
          }
          Lease lease = renewed.build();
          known = leases().resource(lease).update();
          t.renewedAt = now;
          t.renewError = null;
          scheduleRenewal(t, untilNextRenewal(now));
          return;
        } catch (KubernetesClientException e) {
          if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
            Lease fresh = readQuietly(t);
            if (fresh == null) {
              return; // lost, or the read failed and a retry is scheduled
            }
            String holder = specOf(fresh).getHolderIdentity();
            if (!settings.holderIdentity().equals(holder)) {
              lose(
                  t,
                  new StorageException(
                      ErrorKind.ABORTED,
                      "lost the lock of storage '"
                          + storeid
                          + "': Lease "
                          + settings.namespace()
                          + "/"
                          + leaseName
                          + " is now held by "
                          + describeHolder(fresh)));
              return;
            }
            // Still ours, changed by someone else (e.g. an annotation): retry with it.
            known = fresh;
            continue;
          }
          if (e.getCode() == HttpURLConnection.HTTP_NOT_FOUND) {
            lose(t, deleted());
            return;
          }
          renewalFailed(t, "the Kubernetes API failed: " + describe(e));
          return;
        } catch (RuntimeException e) {
          renewalFailed(t, e.toString());
          return;
        }
      }
      renewalFailed(t, "the Lease kept changing under us");
    } finally {
      state.unlock();
    }
  }

  private Lease readQuietly(Tenure t) {
    try {
      Lease fresh = read();
      if (fresh == null) {
        lose(t, deleted());
      }
      return fresh;
    } catch (KubernetesClientException e) {
      renewalFailed(t, "the Kubernetes API failed: " + describe(e));
      return null;
    }
  }

  private StorageException deleted() {
    return new StorageException(
        ErrorKind.ABORTED,
        "lost the lock of storage '"
            + storeid
            + "': Lease "
            + settings.namespace()
            + "/"
            + leaseName
            + " was deleted");
  }

  private void renewalFailed(Tenure t, String why) {
    boolean wasValid = t.renewError == null;
    t.renewError = why;
    LOG.log(
        Level.WARNING,
        "could not renew Lease {0}/{1} of storage ''{2}'' (last renewed {3}): {4}",
        settings.namespace(),
        leaseName,
        storeid,
        t.renewedAt,
        why);
    if (wasValid) {
      observer.failed(storeid, ErrorKind.UNAVAILABLE);
    }
    Duration retry = settings.renewInterval().dividedBy(4);
    scheduleRenewal(t, retry.compareTo(settings.retryMin()) < 0 ? settings.retryMin() : retry);
  }

  private void lose(Tenure t, StorageException why) {
    t.lost = why;
    LOG.log(Level.WARNING, why.getMessage());
    observer.failed(storeid, why.kind());
    if (tenure == t) {
      endTenure();
      known = null;
    }
  }

  // ---------------------------------------------------------------- helpers

  private Resource<Lease> leaseResource() {
    return leases().withName(leaseName);
  }

  private io.fabric8.kubernetes.client.dsl.NonNamespaceOperation<
          Lease,
          io.fabric8.kubernetes.api.model.coordination.v1.LeaseList,
          Resource<Lease>>
      leases() {
    return client.leases().inNamespace(settings.namespace());
  }

  private Lease read() {
    Lease lease = leaseResource().get();
    known = lease;
    return lease;
  }

  private static LeaseSpec specOf(Lease lease) {
    return lease.getSpec() == null ? new LeaseSpec() : lease.getSpec();
  }

  private static String annotation(Lease lease) {
    ObjectMeta meta = lease.getMetadata();
    String value =
        meta == null || meta.getAnnotations() == null
            ? null
            : meta.getAnnotations().get(ANNOTATION_OPERATION);
    return value == null ? "(operation not recorded)" : value;
  }

  private String describeHolder(Lease lease) {
    LeaseSpec spec = specOf(lease);
    ZonedDateTime renewed = spec.getRenewTime();
    return spec.getHolderIdentity()
        + " for "
        + annotation(lease)
        + (renewed == null
            ? ""
            : " (renewed "
                + renewed.toInstant()
                + ", expires "
                + renewed.toInstant().plusSeconds(Objects.requireNonNullElse(spec.getLeaseDurationSeconds(), 0))
                + ")");
  }

  private static String describe(KubernetesClientException e) {
    String message = e.getMessage();
    if (e.getCode() > 0) {
      return "HTTP " + e.getCode() + ": " + message;
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root == e ? message : message + " (" + root + ")";
  }

  private static ZonedDateTime micro(Instant instant) {
    return ZonedDateTime.ofInstant(instant.truncatedTo(ChronoUnit.MICROS), ZoneOffset.UTC);
  }

  /** One holding of the Lease by this process; the fencing check of its operations. */
  final class Tenure implements Fence {
    final Instant acquiredAt;
    volatile Instant renewedAt;
    volatile String renewError;
    volatile StorageException lost;
    volatile ScheduledFuture<?> renewal;

    Tenure(Instant acquiredAt) {
      this.acquiredAt = acquiredAt;
      this.renewedAt = acquiredAt;
    }

    /** Valid until the last renewal + duration - renew interval (a margin for the command). */
    Instant fencePoint() {
      return renewedAt.plus(settings.leaseDuration()).minus(settings.renewInterval());
    }

    boolean isValid(Instant now) {
      return lost == null && now.isBefore(fencePoint());
    }

    @Override
    public void ensureValid() {
      StorageException l = lost;
      if (l != null) {
        throw new StorageException(l.kind(), l.getMessage());
      }
      Instant now = clock.instant();
      if (!now.isBefore(fencePoint())) {
        String why = renewError;
        throw new StorageException(
            ErrorKind.UNAVAILABLE,
            "the lock of storage '"
                + storeid
                + "' may expire: Lease "
                + settings.namespace()
                + "/"
                + leaseName
                + " was last renewed at "
                + renewedAt
                + (why == null ? " (renewal is overdue)" : "; renewal fails: " + why)
                + "; refusing to start another storage command");
      }
    }

    void cancelRenewal() {
      ScheduledFuture<?> r = renewal;
      if (r != null) {
        r.cancel(false);
      }
    }
  }
}
