package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.ExtensionRegistry;
import csi.v1.CsiProto;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Pins the CSI v1.12.0 wire contract: an accidental renumbering or renaming in
 * csi-spec/csi.proto, or a wrong lowering in the Java code-generation copy, fails the build.
 */
class CsiWireContractTest {

  /** The generated Java descriptors equal the published contract, field for field. */
  @Test
  void generatedDescriptorsMatchThePublishedProtoExceptTheDocumentedMapLowering()
      throws Exception {
    Path descriptorSet = Path.of("target/csi-canonical/csi.desc");
    // Parse the custom options (csi_secret, alpha_*) as extensions, as the runtime does.
    ExtensionRegistry extensions = ExtensionRegistry.newInstance();
    CsiProto.registerAllExtensions(extensions);
    FileDescriptorProto canonical;
    try (InputStream in = Files.newInputStream(descriptorSet)) {
      canonical = FileDescriptorSet.parseFrom(in, extensions).getFile(0);
    }
    assertEquals("csi.proto", canonical.getName());

    // The only permitted difference: the four `mutable_parameters` entry types are declared
    // explicitly in the Java copy, so they lack the map_entry option protoc sets on
    // synthesized map entries. Wire encoding is identical either way.
    FileDescriptorProto.Builder expected = canonical.toBuilder();
    int lowered = 0;
    for (DescriptorProto.Builder message : expected.getMessageTypeBuilderList()) {
      lowered += clearMutableParametersMapEntry(message);
      clearJsonNames(message);
    }
    expected.getExtensionBuilderList().forEach(FieldDescriptorProto.Builder::clearJsonName);
    assertEquals(4, lowered, "mutable_parameters maps in the published proto");

    // protoc records json_name in descriptor sets but not in the descriptors it embeds in
    // generated code; it is derived from the field name either way.
    FileDescriptorProto.Builder generated = CsiProto.getDescriptor().toProto().toBuilder();
    generated.getMessageTypeBuilderList().forEach(CsiWireContractTest::clearJsonNames);
    generated.getExtensionBuilderList().forEach(FieldDescriptorProto.Builder::clearJsonName);
    assertEquals(expected.build(), generated.build());
  }

  private static void clearJsonNames(DescriptorProto.Builder message) {
    message.getFieldBuilderList().forEach(FieldDescriptorProto.Builder::clearJsonName);
    message.getNestedTypeBuilderList().forEach(CsiWireContractTest::clearJsonNames);
  }

  private static int clearMutableParametersMapEntry(DescriptorProto.Builder message) {
    int count = 0;
    for (DescriptorProto.Builder nested : message.getNestedTypeBuilderList()) {
      if (nested.getName().equals("MutableParametersEntry") && nested.getOptions().getMapEntry()) {
        nested.getOptionsBuilder().clearMapEntry();
        if (nested.getOptions().getAllFields().isEmpty()) {
          nested.clearOptions();
        }
        count++;
      }
      count += clearMutableParametersMapEntry(nested);
    }
    return count;
  }

  /** The field numbers this driver relies on, spelled out. */
  @Test
  void fieldNumbersOfTheMessagesWeUseArePinned() {
    assertFields(csi.v1.CreateVolumeRequest.getDescriptor(), Map.of(
        "name", 1, "capacity_range", 2, "volume_capabilities", 3, "parameters", 4,
        "secrets", 5, "volume_content_source", 6, "accessibility_requirements", 7,
        "mutable_parameters", 8));
    assertFields(csi.v1.CreateVolumeResponse.getDescriptor(), Map.of("volume", 1));
    assertFields(csi.v1.CapacityRange.getDescriptor(),
        Map.of("required_bytes", 1, "limit_bytes", 2));
    assertFields(csi.v1.Volume.getDescriptor(), Map.of(
        "capacity_bytes", 1, "volume_id", 2, "volume_context", 3, "content_source", 4,
        "accessible_topology", 5));
    assertFields(csi.v1.VolumeContentSource.getDescriptor(), Map.of("snapshot", 1, "volume", 2));
    assertFields(csi.v1.TopologyRequirement.getDescriptor(),
        Map.of("requisite", 1, "preferred", 2));
    assertFields(csi.v1.Topology.getDescriptor(), Map.of("segments", 1));
    assertFields(csi.v1.VolumeCapability.getDescriptor(),
        Map.of("block", 1, "mount", 2, "access_mode", 3));
    assertFields(csi.v1.VolumeCapability.MountVolume.getDescriptor(),
        Map.of("fs_type", 1, "mount_flags", 2, "volume_mount_group", 3));
    assertFields(csi.v1.VolumeCapability.AccessMode.getDescriptor(), Map.of("mode", 1));
    assertFields(csi.v1.DeleteVolumeRequest.getDescriptor(), Map.of("volume_id", 1, "secrets", 2));
    assertFields(csi.v1.NodeStageVolumeRequest.getDescriptor(), Map.of(
        "volume_id", 1, "publish_context", 2, "staging_target_path", 3,
        "volume_capability", 4, "secrets", 5, "volume_context", 6));
    assertFields(csi.v1.NodeUnstageVolumeRequest.getDescriptor(),
        Map.of("volume_id", 1, "staging_target_path", 2));
    assertFields(csi.v1.NodePublishVolumeRequest.getDescriptor(), Map.of(
        "volume_id", 1, "publish_context", 2, "staging_target_path", 3, "target_path", 4,
        "volume_capability", 5, "readonly", 6, "secrets", 7, "volume_context", 8));
    assertFields(csi.v1.NodeUnpublishVolumeRequest.getDescriptor(),
        Map.of("volume_id", 1, "target_path", 2));
    assertFields(csi.v1.NodeGetVolumeStatsRequest.getDescriptor(),
        Map.of("volume_id", 1, "volume_path", 2, "staging_target_path", 3));
    assertFields(csi.v1.NodeGetVolumeStatsResponse.getDescriptor(),
        Map.of("usage", 1, "volume_condition", 2));
    assertFields(csi.v1.VolumeUsage.getDescriptor(),
        Map.of("available", 1, "total", 2, "used", 3, "unit", 4));
    assertFields(csi.v1.VolumeCondition.getDescriptor(), Map.of("abnormal", 1, "message", 2));
    assertFields(csi.v1.NodeExpandVolumeRequest.getDescriptor(), Map.of(
        "volume_id", 1, "volume_path", 2, "capacity_range", 3, "staging_target_path", 4,
        "volume_capability", 5, "secrets", 6));
    assertFields(csi.v1.NodeGetInfoResponse.getDescriptor(),
        Map.of("node_id", 1, "max_volumes_per_node", 2, "accessible_topology", 3));
    assertFields(csi.v1.Snapshot.getDescriptor(), Map.of(
        "size_bytes", 1, "snapshot_id", 2, "source_volume_id", 3, "creation_time", 4,
        "ready_to_use", 5, "group_snapshot_id", 6));
    assertFields(csi.v1.CreateSnapshotRequest.getDescriptor(), Map.of(
        "source_volume_id", 1, "name", 2, "secrets", 3, "parameters", 4));
    assertFields(csi.v1.ListSnapshotsRequest.getDescriptor(), Map.of(
        "max_entries", 1, "starting_token", 2, "source_volume_id", 3, "snapshot_id", 4,
        "secrets", 5));
    assertFields(csi.v1.ListVolumesRequest.getDescriptor(),
        Map.of("max_entries", 1, "starting_token", 2));
    assertFields(csi.v1.ListVolumesResponse.getDescriptor(), Map.of("entries", 1, "next_token", 2));
    assertFields(csi.v1.GetCapacityRequest.getDescriptor(), Map.of(
        "volume_capabilities", 1, "parameters", 2, "accessible_topology", 3));
    assertFields(csi.v1.GetCapacityResponse.getDescriptor(), Map.of(
        "available_capacity", 1, "maximum_volume_size", 2, "minimum_volume_size", 3));
    assertFields(csi.v1.ControllerExpandVolumeResponse.getDescriptor(),
        Map.of("capacity_bytes", 1, "node_expansion_required", 2));
    assertFields(csi.v1.ProbeResponse.getDescriptor(), Map.of("ready", 1));
    assertFields(csi.v1.GetPluginInfoResponse.getDescriptor(),
        Map.of("name", 1, "vendor_version", 2, "manifest", 3));
  }

  /** Enum numbers we send or interpret. */
  @Test
  void enumNumbersWeUseArePinned() {
    assertEquals(1, csi.v1.PluginCapability.Service.Type.CONTROLLER_SERVICE_VALUE);
    assertEquals(2, csi.v1.PluginCapability.Service.Type.VOLUME_ACCESSIBILITY_CONSTRAINTS_VALUE);
    assertEquals(1, csi.v1.PluginCapability.VolumeExpansion.Type.ONLINE_VALUE);
    assertEquals(1, csi.v1.VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER_VALUE);
    assertEquals(2, csi.v1.VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY_VALUE);
    assertEquals(6, csi.v1.VolumeCapability.AccessMode.Mode.SINGLE_NODE_SINGLE_WRITER_VALUE);
    assertEquals(7, csi.v1.VolumeCapability.AccessMode.Mode.SINGLE_NODE_MULTI_WRITER_VALUE);
    assertEquals(1, csi.v1.ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME_VALUE);
    assertEquals(3, csi.v1.ControllerServiceCapability.RPC.Type.LIST_VOLUMES_VALUE);
    assertEquals(4, csi.v1.ControllerServiceCapability.RPC.Type.GET_CAPACITY_VALUE);
    assertEquals(5, csi.v1.ControllerServiceCapability.RPC.Type.CREATE_DELETE_SNAPSHOT_VALUE);
    assertEquals(6, csi.v1.ControllerServiceCapability.RPC.Type.LIST_SNAPSHOTS_VALUE);
    assertEquals(7, csi.v1.ControllerServiceCapability.RPC.Type.CLONE_VOLUME_VALUE);
    assertEquals(11, csi.v1.ControllerServiceCapability.RPC.Type.VOLUME_CONDITION_VALUE);
    assertEquals(12, csi.v1.ControllerServiceCapability.RPC.Type.GET_VOLUME_VALUE);
    assertEquals(14, csi.v1.ControllerServiceCapability.RPC.Type.MODIFY_VOLUME_VALUE);
    assertEquals(15, csi.v1.ControllerServiceCapability.RPC.Type.GET_SNAPSHOT_VALUE);
    assertEquals(1, csi.v1.NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME_VALUE);
    assertEquals(2, csi.v1.NodeServiceCapability.RPC.Type.GET_VOLUME_STATS_VALUE);
    assertEquals(3, csi.v1.NodeServiceCapability.RPC.Type.EXPAND_VOLUME_VALUE);
    assertEquals(4, csi.v1.NodeServiceCapability.RPC.Type.VOLUME_CONDITION_VALUE);
    assertEquals(1, csi.v1.VolumeUsage.Unit.BYTES_VALUE);
    assertEquals(2, csi.v1.VolumeUsage.Unit.INODES_VALUE);
  }

  /** Services are addressed by full name on the wire. */
  @Test
  void serviceNamesAreTheCsiV1Ones() {
    assertEquals("csi.v1.Identity", csi.v1.IdentityGrpc.SERVICE_NAME);
    assertEquals("csi.v1.Controller", csi.v1.ControllerGrpc.SERVICE_NAME);
    assertEquals("csi.v1.Node", csi.v1.NodeGrpc.SERVICE_NAME);
    assertEquals("csi.v1.GroupController", csi.v1.GroupControllerGrpc.SERVICE_NAME);
    assertEquals("csi.v1.SnapshotMetadata", csi.v1.SnapshotMetadataGrpc.SERVICE_NAME);
  }

  private static void assertFields(Descriptor message, Map<String, Integer> expected) {
    Map<String, Integer> actual = new TreeMap<>();
    for (FieldDescriptor field : message.getFields()) {
      actual.put(field.getName(), field.getNumber());
    }
    Map<String, Integer> sorted = new TreeMap<>(new LinkedHashMap<>(expected));
    assertNotNull(message);
    assertEquals(sorted, actual, message.getFullName());
  }
}
