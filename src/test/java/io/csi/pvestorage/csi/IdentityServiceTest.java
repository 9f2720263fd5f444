package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginCapabilitiesRequest;
import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.IdentityGrpc;
import csi.v1.PluginCapability;
import csi.v1.ProbeRequest;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class IdentityServiceTest {

  private final Readiness readiness = new Readiness();
  private final List<String> observed = new ArrayList<>();
  private InProcessCsi csi;
  private IdentityGrpc.IdentityBlockingStub identity;

  @BeforeEach
  void start() throws Exception {
    List<PluginCapability> caps = List.of(
        IdentityService.service(PluginCapability.Service.Type.CONTROLLER_SERVICE),
        IdentityService.expansion(PluginCapability.VolumeExpansion.Type.ONLINE));
    csi = new InProcessCsi((method, code, took) -> observed.add(method + " " + code), List.of(
        new IdentityService("pve-storage.csi.io", "1.2.3", Map.of("csi-spec", "1.12.0"), caps,
            readiness)));
    identity = IdentityGrpc.newBlockingStub(csi.channel());
  }

  @AfterEach
  void stop() throws Exception {
    csi.close();
  }

  @Test
  void pluginInfoNamesTheDriverAndBuild() {
    GetPluginInfoResponse info = identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
    assertEquals("pve-storage.csi.io", info.getName());
    assertEquals("1.2.3", info.getVendorVersion());
    assertEquals(Map.of("csi-spec", "1.12.0"), info.getManifestMap());
    assertEquals(List.of("GetPluginInfo OK"), observed);
  }

  @Test
  void capabilitiesAreWhatTheProcessServes() {
    var caps = identity.getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance())
        .getCapabilitiesList();
    assertEquals(2, caps.size());
    assertEquals(PluginCapability.Service.Type.CONTROLLER_SERVICE, caps.get(0).getService().getType());
    assertEquals(PluginCapability.VolumeExpansion.Type.ONLINE,
        caps.get(1).getVolumeExpansion().getType());
  }

  @Test
  void probeFollowsReadiness() {
    var first = identity.probe(ProbeRequest.getDefaultInstance());
    assertTrue(first.hasReady(), "ready is always set explicitly");
    assertFalse(first.getReady().getValue());
    readiness.markReady();
    assertTrue(identity.probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
    readiness.markNotReady("shutting down");
    assertFalse(identity.probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
    assertEquals(List.of("Probe " + Status.Code.OK, "Probe OK", "Probe OK"), observed);
  }
}
