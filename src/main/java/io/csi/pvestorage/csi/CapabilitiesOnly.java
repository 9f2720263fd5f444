package io.csi.pvestorage.csi;

import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerGetCapabilitiesResponse;
import csi.v1.ControllerGrpc;
import csi.v1.NodeGetCapabilitiesRequest;
import csi.v1.NodeGetCapabilitiesResponse;
import csi.v1.NodeGrpc;
import csi.v1.NodeServiceCapability;
import io.grpc.stub.StreamObserver;
import java.util.List;

/**
 * The services of the controller-only mode, which runs next to csi-resizer without any storage
 * access: they answer the capability calls (csi-resizer reads them to learn that expansion is
 * done by NodeExpandVolume) and nothing else; every other RPC is UNIMPLEMENTED.
 */
public final class CapabilitiesOnly {

  /** What the Node service advertises, in every mode. */
  public static final List<NodeServiceCapability.RPC.Type> NODE_CAPABILITIES = List.of(
      NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME,
      NodeServiceCapability.RPC.Type.GET_VOLUME_STATS,
      NodeServiceCapability.RPC.Type.EXPAND_VOLUME,
      NodeServiceCapability.RPC.Type.VOLUME_CONDITION);

  private CapabilitiesOnly() {}

  /** The NodeGetCapabilities answer. */
  public static NodeGetCapabilitiesResponse nodeCapabilities() {
    NodeGetCapabilitiesResponse.Builder response = NodeGetCapabilitiesResponse.newBuilder();
    for (NodeServiceCapability.RPC.Type type : NODE_CAPABILITIES) {
      response.addCapabilities(NodeServiceCapability.newBuilder()
          .setRpc(NodeServiceCapability.RPC.newBuilder().setType(type)));
    }
    return response.build();
  }

  /** ControllerGetCapabilities only. */
  public static final class Controller extends ControllerGrpc.ControllerImplBase {
    @Override
    public void controllerGetCapabilities(ControllerGetCapabilitiesRequest request,
        StreamObserver<ControllerGetCapabilitiesResponse> response) {
      response.onNext(ControllerService.capabilities());
      response.onCompleted();
    }
  }

  /** NodeGetCapabilities only. */
  public static final class Node extends NodeGrpc.NodeImplBase {
    @Override
    public void nodeGetCapabilities(NodeGetCapabilitiesRequest request,
        StreamObserver<NodeGetCapabilitiesResponse> response) {
      response.onNext(nodeCapabilities());
      response.onCompleted();
    }
  }
}
