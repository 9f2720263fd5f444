package io.csi.pvestorage.reconcile;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Warning Events on PersistentVolumes, as {@code kubectl describe pv} shows them. A PV is
 * cluster-scoped, so its Events live in namespace {@code default}, as Kubernetes' own
 * controllers put them. One Event per PV and reason, named after both: the first pass creates
 * it, later passes patch its count and last time (needs {@code create, patch} on events).
 */
public final class KubernetesPvEvents implements PvEvents {

  private static final System.Logger LOG = System.getLogger(KubernetesPvEvents.class.getName());

  static final String NAMESPACE = "default";
  static final String REASON = "VolumeMissing";

  private final KubernetesClient client;
  private final String component;
  private final String node;
  private final Clock clock;
  private final Map<String, Long> counts = new ConcurrentHashMap<>();
  private final AtomicLong failures = new AtomicLong();

  /**
   * @param component the Event's reporting component, e.g. {@code pve-storage.csi.io/node}
   * @param node this node (the Event's source host)
   */
  public KubernetesPvEvents(KubernetesClient client, String component, String node,
      Clock clock) {
    this.client = Objects.requireNonNull(client, "client");
    this.component = Objects.requireNonNull(component, "component");
    this.node = Objects.requireNonNull(node, "node");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public void volumeMissing(ClusterObjects.Pv pv, String message) {
    String name = pv.name() + "." + REASON.toLowerCase(java.util.Locale.ROOT);
    String now = clock.instant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
    long count = counts.merge(name, 1L, Long::sum);
    try {
      if (count == 1) {
        try {
          client.v1().events().inNamespace(NAMESPACE).resource(event(name, pv, message, now))
              .create();
          return;
        } catch (KubernetesClientException e) {
          if (e.getCode() != 409) {
            throw e;
          }
          count = counts.merge(name, 1L, Long::sum); // one from an earlier process: go on
        }
      }
      client.v1().events().inNamespace(NAMESPACE).withName(name)
          .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"count\":" + count
              + ",\"lastTimestamp\":\"" + now + "\",\"message\":"
              + io.fabric8.kubernetes.client.utils.Serialization.asJson(message) + "}");
    } catch (KubernetesClientException e) {
      failures.incrementAndGet();
      counts.remove(name); // create it again next time
      LOG.log(Level.WARNING, "cannot record Event " + REASON + " on PersistentVolume "
          + pv.name() + " (HTTP " + e.getCode() + "): " + e.getMessage());
    }
  }

  /** Events that could not be created or updated. */
  public long failures() {
    return failures.get();
  }

  private Event event(String name, ClusterObjects.Pv pv, String message, String now) {
    return new EventBuilder()
        .withNewMetadata().withName(name).withNamespace(NAMESPACE).endMetadata()
        .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion("v1")
            .withKind("PersistentVolume").withName(pv.name()).withUid(pv.uid()).build())
        .withReason(REASON)
        .withType("Warning")
        .withMessage(message)
        .withNewSource().withComponent(component).withHost(node).endSource()
        .withReportingComponent(component)
        .withReportingInstance(node)
        .withFirstTimestamp(now)
        .withLastTimestamp(now)
        .withCount(1)
        .build();
  }
}
