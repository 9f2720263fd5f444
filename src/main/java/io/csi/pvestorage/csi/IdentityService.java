package io.csi.pvestorage.csi;

import com.google.protobuf.BoolValue;
import csi.v1.GetPluginCapabilitiesRequest;
import csi.v1.GetPluginCapabilitiesResponse;
import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.IdentityGrpc;
import csi.v1.PluginCapability;
import csi.v1.ProbeRequest;
import csi.v1.ProbeResponse;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The CSI Identity service: the driver's name and version, the capabilities of what this
 * process actually serves, and readiness. Probe only reads a flag; it never touches storage.
 */
public final class IdentityService extends IdentityGrpc.IdentityImplBase {

  private final String driverName;
  private final String version;
  private final Map<String, String> manifest;
  private final List<PluginCapability> capabilities;
  private final Readiness readiness;

  /**
   * @param capabilities the plugin capabilities of the services registered in this process
   * @param manifest build facts (CSI spec version, mode), reported as is
   */
  public IdentityService(
      String driverName,
      String version,
      Map<String, String> manifest,
      List<PluginCapability> capabilities,
      Readiness readiness) {
    this.driverName = Objects.requireNonNull(driverName, "driverName");
    this.version = Objects.requireNonNull(version, "version");
    this.manifest = Map.copyOf(manifest);
    this.capabilities = List.copyOf(capabilities);
    this.readiness = Objects.requireNonNull(readiness, "readiness");
  }

  @Override
  public void getPluginInfo(
      GetPluginInfoRequest request, StreamObserver<GetPluginInfoResponse> response) {
    response.onNext(GetPluginInfoResponse.newBuilder()
        .setName(driverName)
        .setVendorVersion(version)
        .putAllManifest(manifest)
        .build());
    response.onCompleted();
  }

  @Override
  public void getPluginCapabilities(
      GetPluginCapabilitiesRequest request,
      StreamObserver<GetPluginCapabilitiesResponse> response) {
    response.onNext(
        GetPluginCapabilitiesResponse.newBuilder().addAllCapabilities(capabilities).build());
    response.onCompleted();
  }

  @Override
  public void probe(ProbeRequest request, StreamObserver<ProbeResponse> response) {
    response.onNext(ProbeResponse.newBuilder()
        .setReady(BoolValue.of(readiness.isReady()))
        .build());
    response.onCompleted();
  }

  /** A capability naming a service this plugin provides. */
  public static PluginCapability service(PluginCapability.Service.Type type) {
    return PluginCapability.newBuilder()
        .setService(PluginCapability.Service.newBuilder().setType(type))
        .build();
  }

  /** A capability naming how volumes can be expanded. */
  public static PluginCapability expansion(PluginCapability.VolumeExpansion.Type type) {
    return PluginCapability.newBuilder()
        .setVolumeExpansion(PluginCapability.VolumeExpansion.newBuilder().setType(type))
        .build();
  }
}
