package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginCapabilitiesRequest;
import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.PluginCapability;
import csi.v1.ProbeRequest;
import csi.v1.ProbeResponse;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Identity: GetPluginInfo, GetPluginCapabilities, Probe. */
abstract class IdentityCases extends LifecycleCases {

  /** The spec's rule for the name: at most 63 characters, domain-name notation. */
  private static final String NAME_PATTERN = "[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?";

  @Test
  void identity_getPluginInfoNamesTheDriverAndItsVersion() {
    GetPluginInfoResponse info = identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
    assertTrue(info.getName().matches(NAME_PATTERN),
        "name is a domain-style name of at most 63 characters: '" + info.getName() + "'");
    assertEquals("pve-storage.csi.io", info.getName());
    assertFalse(info.getVendorVersion().isBlank(), "vendor_version is required");
  }

  @Test
  void identity_probeAnswersReady() {
    ProbeResponse probe = identity().probe(ProbeRequest.getDefaultInstance());
    assertTrue(probe.hasReady(), "a started driver says whether it is ready");
    assertTrue(probe.getReady().getValue(), "ready after start-up");
  }

  @Test
  void identity_pluginCapabilitiesAreTheContract() {
    List<PluginCapability> capabilities = identity()
        .getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList();
    Set<String> seen = new HashSet<>();
    for (PluginCapability capability : capabilities) {
      switch (capability.getTypeCase()) {
        case SERVICE -> seen.add("service " + capability.getService().getType());
        case VOLUME_EXPANSION -> seen.add("expansion " + capability.getVolumeExpansion().getType());
        default -> throw new AssertionError("a capability without a type: " + capability);
      }
    }
    assertFalse(seen.stream().anyMatch(s -> s.endsWith("UNKNOWN")), "no UNKNOWN capability: " + seen);
    assertEquals(Set.of("service CONTROLLER_SERVICE", "service VOLUME_ACCESSIBILITY_CONSTRAINTS",
        "expansion ONLINE"), seen);
  }
}
