package io.csi.pvestorage.reconcile;

import io.csi.pvestorage.csi.ControllerService;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.api.model.ListOptions;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.NodeSelectorRequirement;
import io.fabric8.kubernetes.api.model.NodeSelectorTerm;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeList;
import io.fabric8.kubernetes.api.model.PersistentVolumeSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The cluster as the fabric8 client reads it: two paged lists per read, PersistentVolumes and
 * VolumeSnapshotContents (needs {@code get, list} on both, nothing else). Any failure of either
 * is a {@link ClusterView.ClusterReadException}, except a VolumeSnapshotContent API that does
 * not exist (the snapshot CRDs are not installed: then no content can name a snapshot).
 */
public final class KubernetesClusterView implements ClusterView {

  /** The snapshot CRD's content kind (cluster-scoped). */
  static final ResourceDefinitionContext CONTENTS = new ResourceDefinitionContext.Builder()
      .withGroup("snapshot.storage.k8s.io")
      .withVersion("v1")
      .withKind("VolumeSnapshotContent")
      .withPlural("volumesnapshotcontents")
      .withNamespaced(false)
      .build();

  private static final long PAGE = 500;

  private final KubernetesClient client;
  private final String driverName;

  public KubernetesClusterView(KubernetesClient client, String driverName) {
    this.client = Objects.requireNonNull(client, "client");
    this.driverName = Objects.requireNonNull(driverName, "driverName");
  }

  @Override
  public ClusterObjects read() {
    try {
      return new ClusterObjects(persistentVolumes(), snapshotHandles());
    } catch (KubernetesClientException e) {
      throw new ClusterReadException("cannot list PersistentVolumes and VolumeSnapshotContents"
          + " (HTTP " + e.getCode() + "): " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new ClusterReadException("cannot read the API's answer: " + e, e);
    }
  }

  private List<ClusterObjects.Pv> persistentVolumes() {
    List<ClusterObjects.Pv> result = new ArrayList<>();
    String next = null;
    do {
      PersistentVolumeList page = client.persistentVolumes().list(page(next));
      for (PersistentVolume pv : page.getItems()) {
        PersistentVolumeSpec spec = pv.getSpec();
        if (spec == null || spec.getCsi() == null
            || !driverName.equals(spec.getCsi().getDriver())
            || spec.getCsi().getVolumeHandle() == null) {
          continue;
        }
        result.add(pv(pv, spec));
      }
      next = continueToken(page.getMetadata());
    } while (next != null);
    return result;
  }

  private List<String> snapshotHandles() {
    List<String> result = new ArrayList<>();
    String next = null;
    do {
      GenericKubernetesResourceList page;
      try {
        page = client.genericKubernetesResources(CONTENTS).list(page(next));
      } catch (KubernetesClientException e) {
        if (e.getCode() == 404 && next == null) {
          return List.of(); // no snapshot CRDs: no content names anything
        }
        throw e;
      }
      for (GenericKubernetesResource content : page.getItems()) {
        if (!driverName.equals(content.get("spec", "driver"))) {
          continue;
        }
        Object handle = content.get("status", "snapshotHandle");
        if (handle == null) {
          handle = content.get("spec", "source", "snapshotHandle");
        }
        if (handle instanceof String text) {
          result.add(text);
        }
      }
      next = continueToken(page.getMetadata());
    } while (next != null);
    return result;
  }

  private ClusterObjects.Pv pv(PersistentVolume pv, PersistentVolumeSpec spec) {
    var meta = pv.getMetadata();
    Optional<String> claim = Optional.ofNullable(spec.getClaimRef())
        .map(ref -> ref.getNamespace() + "/" + ref.getName());
    Quantity storage = spec.getCapacity() == null ? null : spec.getCapacity().get("storage");
    long capacity = storage == null ? 0 : Quantity.getAmountInBytes(storage).longValue();
    String phase = pv.getStatus() == null ? "" : Objects.toString(pv.getStatus().getPhase(), "");
    boolean going = meta.getDeletionTimestamp() != null
        || (phase.equals("Released") || phase.equals("Failed"))
            && "Delete".equals(spec.getPersistentVolumeReclaimPolicy());
    return new ClusterObjects.Pv(meta.getName(), Objects.toString(meta.getUid(), ""),
        spec.getCsi().getVolumeHandle(), node(spec), claim, capacity,
        time(meta.getCreationTimestamp()), !going);
  }

  /** The node named by the driver's topology key in the PV's required node affinity. */
  private static Optional<String> node(PersistentVolumeSpec spec) {
    if (spec.getNodeAffinity() == null || spec.getNodeAffinity().getRequired() == null) {
      return Optional.empty();
    }
    for (NodeSelectorTerm term : spec.getNodeAffinity().getRequired().getNodeSelectorTerms()) {
      for (NodeSelectorRequirement r : term.getMatchExpressions()) {
        if (ControllerService.TOPOLOGY_KEY.equals(r.getKey()) && "In".equals(r.getOperator())
            && r.getValues() != null && r.getValues().size() == 1) {
          return Optional.of(r.getValues().get(0));
        }
      }
    }
    return Optional.empty();
  }

  private static Optional<Instant> time(String text) {
    try {
      return Optional.ofNullable(text).map(Instant::parse);
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static ListOptions page(String next) {
    return new ListOptionsBuilder().withLimit(PAGE).withContinue(next).build();
  }

  private static String continueToken(io.fabric8.kubernetes.api.model.ListMeta meta) {
    String next = meta == null ? null : meta.getContinue();
    return next == null || next.isEmpty() ? null : next;
  }
}
