package io.csi.pvestorage.app;

import com.google.protobuf.Empty;
import com.google.protobuf.Struct;
import io.csi.pvestorage.reconcile.OrphanReconciler;
import io.grpc.BindableService;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import java.util.Objects;

/**
 * The node plugin's answer to {@code client orphans}, on the CSI socket next to the CSI
 * services: one unary method, {@code pvestorage.v1.Orphans/ListOrphans}, taking {@code
 * google.protobuf.Empty} and answering a {@code google.protobuf.Struct} ({@link OrphanWire}).
 *
 * <p>Why the socket and not a computation in the client: the node plugin already holds
 * everything a pass needs (the storage.cfg of its node, the command prefix, the service account
 * that may list PVs, the in-flight guard), so the report a client prints is exactly what the
 * periodic pass and the metrics see, and only who can reach the socket (root on the node, or
 * {@code kubectl exec} into the driver container) can ask. A pass asked for here reports only:
 * it deletes nothing and emits no Event, whatever the clean-up setting.
 *
 * <p>Well-known protobuf types keep the wire self-describing without a second {@code .proto}
 * file next to the CSI spec's.
 */
final class OrphanService implements BindableService {

  static final String SERVICE = "pvestorage.v1.Orphans";

  static final MethodDescriptor<Empty, Struct> LIST_ORPHANS =
      MethodDescriptor.<Empty, Struct>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "ListOrphans"))
          .setRequestMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(Struct.getDefaultInstance()))
          .build();

  private final OrphanReconciler reconciler;

  OrphanService(OrphanReconciler reconciler) {
    this.reconciler = Objects.requireNonNull(reconciler, "reconciler");
  }

  @Override
  public ServerServiceDefinition bindService() {
    return ServerServiceDefinition.builder(SERVICE)
        .addMethod(LIST_ORPHANS, ServerCalls.asyncUnaryCall((request, response) -> {
          response.onNext(OrphanWire.toStruct(reconciler.reconcile(false),
              reconciler.settings()));
          response.onCompleted();
        }))
        .build();
  }
}
