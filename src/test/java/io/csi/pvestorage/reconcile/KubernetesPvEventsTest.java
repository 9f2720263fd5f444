package io.csi.pvestorage.reconcile;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.csi.pvestorage.lock.FakeClock;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Events on PVs against the CRUD mock server: one per PV, counted, never thrown. */
@EnableKubernetesMockClient(crud = true)
class KubernetesPvEventsTest {

  KubernetesMockServer server;
  KubernetesClient client;

  private final FakeClock clock = new FakeClock(Instant.parse("2026-12-07T20:00:00Z"));
  private final ClusterObjects.Pv pv = new ClusterObjects.Pv("pvc-1", "uid-1",
      "local-lvm:vm-0-pvc-1", Optional.of("node-a"), Optional.of("apps/data"), 1L << 30,
      Optional.empty(), true);

  @Test
  void anEventOfAnEarlierProcessIsCountedOn() {
    client.v1().events().inNamespace("default").resource(new EventBuilder()
        .withNewMetadata().withName("pvc-1.volumemissing").withNamespace("default").endMetadata()
        .withReason("VolumeMissing").withCount(5).withMessage("old").build()).create();
    KubernetesPvEvents events = new KubernetesPvEvents(client, "pve-storage.csi.io/node",
        "node-a", clock);

    clock.advance(Duration.ofMinutes(10));
    events.volumeMissing(pv, "volume gone");

    Event event = client.v1().events().inNamespace("default").withName("pvc-1.volumemissing")
        .get();
    assertEquals("volume gone", event.getMessage());
    assertEquals("2026-12-07T20:10:00Z", event.getLastTimestamp());
    assertEquals(1, client.v1().events().inNamespace("default").list().getItems().size());
    assertEquals(0, events.failures());
  }

  @Test
  void anApiThatRefusesTheEventIsCountedAndNotThrown() {
    KubernetesClient unreachable = new KubernetesClientBuilder().withConfig(
        new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("http://127.0.0.1:1")
            .withRequestRetryBackoffLimit(0).withConnectionTimeout(500).build()).build();
    try (unreachable) {
      KubernetesPvEvents events = new KubernetesPvEvents(unreachable,
          "pve-storage.csi.io/node", "node-a", clock);
      events.volumeMissing(pv, "volume gone");
      events.volumeMissing(pv, "volume gone");
      assertEquals(2, events.failures());
    }
    assertEquals(List.of(), client.v1().events().inNamespace("default").list().getItems());
  }
}
