package io.csi.pvestorage.conformance;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.List;

/**
 * TEST ONLY: makes the Leases a dead driver left held look expired, so that the next driver's
 * real takeover path runs at once instead of after the Lease duration.
 *
 * <p>A holder judges another's Lease expired when its {@code renewTime} + {@code
 * leaseDurationSeconds} is past by its OWN clock ({@code LeasePool}). Moving {@code renewTime}
 * (and {@code acquireTime}) back by the Lease's own duration, holder kept, makes that moment the
 * old {@code renewTime}, which the dead process wrote with the same clock the new one reads:
 * already past, whatever the host's and the guest's clocks say.
 *
 * <p>Honest only when every holder of these Leases is known dead: the caller must have seen the
 * holder's process exit (a live holder whose Lease is aged would be fenced out under a running
 * operation, which is the protocol's job to prevent, not this helper's to cause). The crash
 * suite calls it between seeing the halted driver exit and starting the next one, against a
 * mock API server only that driver used. The takeover after a real wait of the duration is
 * measured elsewhere (LockFaultsIT, docs/reliability-faults.md).
 */
public final class LeaseAgeing {

  private LeaseAgeing() {}

  /**
   * Ages every held Lease of {@code namespace}; a free one (no holder) is left as it is.
   *
   * @return the names of the Leases aged, with their holders ({@code name held by holder})
   */
  public static List<String> ageHeld(KubernetesClient client, String namespace) {
    List<String> aged = new ArrayList<>();
    for (Lease lease : client.leases().inNamespace(namespace).list().getItems()) {
      LeaseSpec spec = lease.getSpec();
      if (spec == null || spec.getHolderIdentity() == null || spec.getHolderIdentity().isEmpty()
          || spec.getLeaseDurationSeconds() == null) {
        continue;
      }
      long seconds = spec.getLeaseDurationSeconds();
      if (spec.getRenewTime() != null) {
        spec.setRenewTime(spec.getRenewTime().minusSeconds(seconds));
      }
      if (spec.getAcquireTime() != null) {
        spec.setAcquireTime(spec.getAcquireTime().minusSeconds(seconds));
      }
      // Keeps the resourceVersion read above: a write by anyone since then fails (409).
      client.leases().inNamespace(namespace).resource(lease).update();
      aged.add(lease.getMetadata().getName() + " held by " + spec.getHolderIdentity());
    }
    return aged;
  }
}
