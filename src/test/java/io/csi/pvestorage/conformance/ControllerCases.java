package io.csi.pvestorage.conformance;

import static io.grpc.Status.Code.ABORTED;
import static io.grpc.Status.Code.ALREADY_EXISTS;
import static io.grpc.Status.Code.INVALID_ARGUMENT;
import static io.grpc.Status.Code.NOT_FOUND;
import static io.grpc.Status.Code.OUT_OF_RANGE;
import static io.grpc.Status.Code.RESOURCE_EXHAUSTED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.ControllerGetCapabilitiesRequest;
import csi.v1.ControllerServiceCapability;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.GetCapacityResponse;
import csi.v1.ListVolumesRequest;
import csi.v1.ListVolumesResponse;
import csi.v1.Topology;
import csi.v1.ValidateVolumeCapabilitiesRequest;
import csi.v1.ValidateVolumeCapabilitiesResponse;
import csi.v1.Volume;
import csi.v1.VolumeCapability;
import csi.v1.VolumeCapability.AccessMode.Mode;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/** Controller: capabilities, CreateVolume, DeleteVolume, ValidateVolumeCapabilities, ListVolumes, GetCapacity. */
abstract class ControllerCases extends IdentityCases {

  /** The most pages a listing walk may take before the test calls it a loop. */
  private static final int MAX_PAGES = 10_000;

  @Test
  void controller_capabilitiesAreTheContract() {
    Set<ControllerServiceCapability.RPC.Type> types = new HashSet<>();
    for (ControllerServiceCapability capability : controller()
        .controllerGetCapabilities(ControllerGetCapabilitiesRequest.getDefaultInstance())
        .getCapabilitiesList()) {
      assertTrue(capability.hasRpc(), "every capability is an RPC capability: " + capability);
      assertTrue(types.add(capability.getRpc().getType()), "listed once: " + capability);
    }
    assertEquals(Set.of(ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME,
        ControllerServiceCapability.RPC.Type.CREATE_DELETE_SNAPSHOT,
        ControllerServiceCapability.RPC.Type.LIST_VOLUMES,
        ControllerServiceCapability.RPC.Type.LIST_SNAPSHOTS,
        ControllerServiceCapability.RPC.Type.GET_CAPACITY,
        ControllerServiceCapability.RPC.Type.CLONE_VOLUME,
        ControllerServiceCapability.RPC.Type.VOLUME_CONDITION), types,
        "node-local volumes: no publish step, expansion on the node only");
  }

  // ---- CreateVolume -----------------------------------------------------------------------

  @Test
  void controller_createVolumeWithoutNameIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> createVolume(
        volumeRequest("", VOLUME_BYTES, mountCapability()).build()));
  }

  @Test
  void controller_createVolumeWithoutCapabilitiesIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> createVolume(
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability())
            .clearVolumeCapabilities().build()));
  }

  @Test
  void controller_createVolumeWithUnknownParameterIsInvalid() {
    StatusRuntimeException e = assertCode(INVALID_ARGUMENT, () -> createVolume(
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability())
            .putParameters("thinpool", "data").build()));
    assertTrue(String.valueOf(e.getStatus().getDescription()).contains("thinpool"),
        "the message names the unknown key: " + e.getStatus().getDescription());
  }

  @Test
  void controller_createVolumeWithoutStorageParameterIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> createVolume(
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability())
            .removeParameters("storage").build()));
  }

  @Test
  void controller_createVolumeWithMultiNodeAccessIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> createVolume(volumeRequest(uniqueName("pvc"),
        VOLUME_BYTES, mountCapability(Mode.MULTI_NODE_MULTI_WRITER)).build()));
  }

  @Test
  void controller_createVolumeAnswersIdCapacityTopologyAndContext() {
    String name = uniqueName("pvc");
    Volume volume = createVolume(name, VOLUME_BYTES, mountCapability());
    assertTrue(volume.getVolumeId().startsWith(backend().storage() + ":"),
        "volume ID <storeid>:<volname>: " + volume.getVolumeId());
    assertTrue(volume.getVolumeId().getBytes(StandardCharsets.UTF_8).length <= 128,
        "CSI limits IDs to 128 bytes");
    assertTrue(volume.getCapacityBytes() >= VOLUME_BYTES,
        "at least the required bytes: " + volume.getCapacityBytes());
    assertEquals(List.of(thisNode()), volume.getAccessibleTopologyList(),
        "a node-local volume is reachable from this node only");
    assertEquals(backend().storage(), volume.getVolumeContextMap().get("storage"));
    assertEquals(backend().format(), volume.getVolumeContextMap().get("format"));
    assertEquals(backend().fsType(), volume.getVolumeContextMap().get("fsType"));
    assertFalse(volume.hasContentSource(), "an empty volume has no content source");
  }

  @Test
  void controller_createVolumeWithoutCapacityGetsTheDefault() {
    Volume volume = createVolume(uniqueName("pvc"), 0, mountCapability());
    assertEquals(GiB, volume.getCapacityBytes(), "no capacity_range: the default of 1 GiB");
  }

  @Test
  void controller_createVolumeIsIdempotent() {
    String name = uniqueName("pvc");
    Volume first = createVolume(name, VOLUME_BYTES, mountCapability());
    Volume again = createVolume(name, VOLUME_BYTES, mountCapability());
    assertEquals(first, again, "the same name and request give the same volume");
  }

  @Test
  void controller_createVolumeWithSameNameAndLargerSizeIsAlreadyExists() {
    String name = uniqueName("pvc");
    createVolume(name, VOLUME_BYTES, mountCapability());
    assertCode(ALREADY_EXISTS, () -> createVolume(
        volumeRequest(name, 2 * VOLUME_BYTES, mountCapability()).build()));
  }

  @Test
  void controller_createVolumeHonoursTheCapacityRange() {
    long required = 37 * MiB + 512;
    long limit = 48 * MiB;
    CreateVolumeRequest.Builder request = volumeRequest(uniqueName("pvc"), required, mountCapability());
    request.getCapacityRangeBuilder().setLimitBytes(limit);
    Volume volume = createVolume(request.build());
    assertTrue(volume.getCapacityBytes() >= required && volume.getCapacityBytes() <= limit,
        "required <= capacity <= limit, got " + volume.getCapacityBytes());
  }

  @Test
  void controller_createVolumeWithOnlyALimitStaysBelowIt() {
    CreateVolumeRequest.Builder request = volumeRequest(uniqueName("pvc"), 0, mountCapability());
    request.getCapacityRangeBuilder().setLimitBytes(32 * MiB);
    Volume volume = createVolume(request.build());
    assertTrue(volume.getCapacityBytes() > 0 && volume.getCapacityBytes() <= 32 * MiB,
        "0 < capacity <= limit, got " + volume.getCapacityBytes());
  }

  @Test
  void controller_createVolumeWithLimitBelowRequiredIsRefused() {
    CreateVolumeRequest.Builder request =
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
    request.getCapacityRangeBuilder().setLimitBytes(VOLUME_BYTES / 2);
    assertCodeIn(List.of(INVALID_ARGUMENT, OUT_OF_RANGE),
        () -> createVolume(request.build()));
  }

  @Test
  void controller_createVolumeWithMaximumLengthNames() {
    String stem = uniqueName("pvc");
    String nameA = stem + "a".repeat(128 - stem.length());
    String nameB = stem + "a".repeat(127 - stem.length()) + "b";
    assertEquals(128, nameA.length());
    Volume a = createVolume(nameA, VOLUME_BYTES, mountCapability());
    Volume again = createVolume(nameA, VOLUME_BYTES, mountCapability());
    Volume b = createVolume(nameB, VOLUME_BYTES, mountCapability());
    assertEquals(a.getVolumeId(), again.getVolumeId(), "a shortened name maps to the same volume");
    assertNotEquals(a.getVolumeId(), b.getVolumeId(),
        "names that differ only at the end are different volumes");
  }

  @Test
  void controller_createVolumeOnAStorageOfAnotherNodeIsResourceExhausted() {
    assertCode(RESOURCE_EXHAUSTED, () -> createVolume(
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability())
            .putParameters("storage", GuestDriver.FOREIGN_STORAGE)
            .putParameters("fsType", "ext4").build()));
  }

  @Test
  void controller_createVolumeForAnotherNodesTopologyIsResourceExhausted() {
    CreateVolumeRequest.Builder request =
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
    request.getAccessibilityRequirementsBuilder().addRequisite(otherNode()).addPreferred(otherNode());
    assertCode(RESOURCE_EXHAUSTED, () -> createVolume(request.build()));
  }

  @Test
  void controller_createVolumeWithThisNodeInTheTopologyLandsHere() {
    CreateVolumeRequest.Builder request =
        volumeRequest(uniqueName("pvc"), VOLUME_BYTES, mountCapability());
    request.getAccessibilityRequirementsBuilder()
        .addRequisite(otherNode()).addRequisite(thisNode()).addPreferred(thisNode());
    Volume volume = createVolume(request.build());
    assertEquals(List.of(thisNode()), volume.getAccessibleTopologyList());
  }

  @Test
  void controller_createVolumeLargerThanMaximumVolumeSizeIsResourceExhausted() {
    GetCapacityResponse capacity = controller().getCapacity(capacityRequest().build());
    assertTrue(capacity.hasMaximumVolumeSize(), "GetCapacity reports maximum_volume_size");
    long tooLarge = capacity.getMaximumVolumeSize().getValue() + GiB;
    assertCode(RESOURCE_EXHAUSTED, () -> createVolume(
        volumeRequest(uniqueName("pvc"), tooLarge, mountCapability()).build()));
  }

  @Test
  void controller_concurrentCreateVolumeWithOneNameMakesOneVolume() throws Exception {
    String name = uniqueName("pvc");
    CreateVolumeRequest request = volumeRequest(name, VOLUME_BYTES, mountCapability()).build();
    ExecutorService callers = Executors.newFixedThreadPool(3);
    List<CompletableFuture<Object>> calls = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        calls.add(CompletableFuture.supplyAsync(() -> {
          try {
            return controller().createVolume(request).getVolume();
          } catch (StatusRuntimeException e) {
            return e;
          }
        }, callers));
      }
      Set<String> ids = new HashSet<>();
      for (CompletableFuture<Object> call : calls) {
        Object outcome = call.get();
        if (outcome instanceof Volume v) {
          ids.add(v.getVolumeId());
          deleteAfterCase(v.getVolumeId());
        } else {
          assertEquals(ABORTED, ((StatusRuntimeException) outcome).getStatus().getCode(),
              "a concurrent call on the same name may only be refused with ABORTED: " + outcome);
        }
      }
      Volume settled = createVolume(request);
      ids.add(settled.getVolumeId());
      assertEquals(1, ids.size(), "one name, one volume: " + ids);
    } finally {
      callers.shutdownNow();
    }
  }

  // ---- DeleteVolume -----------------------------------------------------------------------

  @Test
  void controller_deleteVolumeWithoutIdIsInvalid() {
    assertCode(INVALID_ARGUMENT,
        () -> controller().deleteVolume(DeleteVolumeRequest.getDefaultInstance()));
  }

  @Test
  void controller_deleteVolumeOfAMissingVolumeSucceeds() {
    controller().deleteVolume(deleteRequest(backend().missingVolumeId()));
  }

  @Test
  void controller_deleteVolumeIsIdempotentAndTheVolumeIsGone() {
    Volume volume = createMountVolume();
    controller().deleteVolume(deleteRequest(volume.getVolumeId()));
    controller().deleteVolume(deleteRequest(volume.getVolumeId()));
    assertFalse(listAllVolumes().containsKey(volume.getVolumeId()), "not listed after delete");
    assertCode(NOT_FOUND, () -> controller().validateVolumeCapabilities(
        validateRequest(volume.getVolumeId(), mountCapability())));
  }

  // ---- ValidateVolumeCapabilities ---------------------------------------------------------

  @Test
  void controller_validateWithoutVolumeIdIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> controller().validateVolumeCapabilities(
        validateRequest("", mountCapability())));
  }

  @Test
  void controller_validateWithoutCapabilitiesIsInvalid() {
    Volume volume = createMountVolume();
    assertCode(INVALID_ARGUMENT, () -> controller().validateVolumeCapabilities(
        ValidateVolumeCapabilitiesRequest.newBuilder().setVolumeId(volume.getVolumeId()).build()));
  }

  @Test
  void controller_validateOfAMissingVolumeIsNotFound() {
    assertCode(NOT_FOUND, () -> controller().validateVolumeCapabilities(
        validateRequest(backend().missingVolumeId(), mountCapability())));
  }

  @Test
  void controller_validateConfirmsTheCapabilityTheVolumeWasMadeFor() {
    Volume volume = createMountVolume();
    ValidateVolumeCapabilitiesResponse response = controller().validateVolumeCapabilities(
        validateRequest(volume.getVolumeId(), mountCapability()));
    assertTrue(response.hasConfirmed(), "confirmed: " + response.getMessage());
    assertEquals(List.of(mountCapability()), response.getConfirmed().getVolumeCapabilitiesList());
  }

  @Test
  void controller_validateDoesNotConfirmMultiNodeAccess() {
    Volume volume = createMountVolume();
    ValidateVolumeCapabilitiesResponse response = controller().validateVolumeCapabilities(
        validateRequest(volume.getVolumeId(), mountCapability(Mode.MULTI_NODE_MULTI_WRITER)));
    assertFalse(response.hasConfirmed(), "a node-local volume cannot be shared across nodes");
    assertFalse(response.getMessage().isBlank(), "the message says why");
  }

  // ---- ListVolumes ------------------------------------------------------------------------

  @Test
  void controller_listVolumesShowsNewVolumesWithTheirSize() {
    Volume a = createMountVolume();
    Volume b = createVolume(uniqueName("pvc"), 2 * VOLUME_BYTES, mountCapability());
    Map<String, Volume> listed = listAllVolumes();
    assertEquals(a.getCapacityBytes(), listed.get(a.getVolumeId()).getCapacityBytes());
    assertEquals(b.getCapacityBytes(), listed.get(b.getVolumeId()).getCapacityBytes());
  }

  @Test
  void controller_listVolumesPagesCoverEverythingOnce() {
    for (int i = 0; i < 3; i++) {
      createMountVolume();
    }
    Map<String, Volume> all = listAllVolumes();
    assertTrue(all.size() >= 3, "at least the 3 new volumes: " + all.keySet());
    List<String> walked = walk((max, token) -> {
      ListVolumesResponse page = controller().listVolumes(
          ListVolumesRequest.newBuilder().setMaxEntries(max).setStartingToken(token).build());
      return new Page(page.getEntriesList().stream().map(e -> e.getVolume().getVolumeId()).toList(),
          page.getNextToken());
    }, 1);
    assertEquals(walked.size(), new HashSet<>(walked).size(), "no volume twice: " + walked);
    assertEquals(all.keySet(), new HashSet<>(walked), "pages of 1 cover the whole listing");
  }

  @Test
  void controller_listVolumesWithMaxEntriesGivesANextToken() {
    for (int i = 0; i < 3; i++) {
      createMountVolume();
    }
    ListVolumesResponse page = controller().listVolumes(
        ListVolumesRequest.newBuilder().setMaxEntries(2).build());
    assertEquals(2, page.getEntriesCount(), "max_entries is honoured");
    assertFalse(page.getNextToken().isEmpty(), "more entries: next_token is set");
  }

  @Test
  void controller_listVolumesWithABadStartingTokenIsAborted() {
    assertCode(ABORTED, () -> controller().listVolumes(
        ListVolumesRequest.newBuilder().setStartingToken("no-such-token").build()));
  }

  // ---- GetCapacity ------------------------------------------------------------------------

  @Test
  void controller_getCapacityOfTheStorage() {
    GetCapacityResponse capacity = controller().getCapacity(capacityRequest().build());
    assertTrue(capacity.getAvailableCapacity() > 0, "an empty pool has room: " + capacity);
    assertTrue(capacity.hasMaximumVolumeSize(), "maximum_volume_size is reported");
    assertTrue(capacity.getMaximumVolumeSize().getValue() >= VOLUME_BYTES,
        "a small volume fits: " + capacity);
  }

  @Test
  void controller_getCapacityPerTopology() {
    long here = controller().getCapacity(capacityRequest().setAccessibleTopology(thisNode()).build())
        .getAvailableCapacity();
    long elsewhere = controller().getCapacity(
        capacityRequest().setAccessibleTopology(otherNode()).build()).getAvailableCapacity();
    assertTrue(here > 0, "this node's pool has room");
    assertEquals(0, elsewhere, "nothing of this node's pool is reachable from another node");
  }

  @Test
  void controller_getCapacityOfAStorageOfAnotherNodeIsZero() {
    GetCapacityResponse capacity = controller().getCapacity(GetCapacityRequest.newBuilder()
        .addVolumeCapabilities(mountCapability())
        .putParameters("storage", GuestDriver.FOREIGN_STORAGE).build());
    assertEquals(0, capacity.getAvailableCapacity());
  }

  @Test
  void controller_getCapacityWithAnUnknownParameterIsInvalid() {
    assertCode(INVALID_ARGUMENT, () -> controller().getCapacity(
        capacityRequest().putParameters("thinpool", "data").build()));
  }

  // ---- helpers ----------------------------------------------------------------------------

  static Topology thisNode() {
    return Topology.newBuilder().putSegments(TOPOLOGY_KEY, GuestDriver.NODE_ID).build();
  }

  static Topology otherNode() {
    return Topology.newBuilder().putSegments(TOPOLOGY_KEY, GuestDriver.OTHER_NODE).build();
  }

  GetCapacityRequest.Builder capacityRequest() {
    return GetCapacityRequest.newBuilder()
        .addVolumeCapabilities(mountCapability())
        .putAllParameters(parameters());
  }

  ValidateVolumeCapabilitiesRequest validateRequest(String volumeId, VolumeCapability capability) {
    return ValidateVolumeCapabilitiesRequest.newBuilder()
        .setVolumeId(volumeId)
        .addVolumeCapabilities(capability)
        .putAllParameters(parameters())
        .build();
  }

  /** One page of a listing: IDs and the token for the next page. */
  record Page(List<String> ids, String nextToken) {}

  /**
   * Walks a listing page by page until next_token is empty, checking that no page is larger
   * than {@code maxEntries}.
   */
  static List<String> walk(BiFunction<Integer, String, Page> listPage, int maxEntries) {
    List<String> ids = new ArrayList<>();
    String token = "";
    Map<String, Integer> tokensSeen = new HashMap<>();
    for (int pages = 0; pages < MAX_PAGES; pages++) {
      Page page = listPage.apply(maxEntries, token);
      assertTrue(page.ids().size() <= maxEntries, "a page holds at most max_entries: " + page);
      ids.addAll(page.ids());
      if (page.nextToken().isEmpty()) {
        return ids;
      }
      assertFalse(tokensSeen.containsKey(page.nextToken()), "a token leads forward: " + page);
      tokensSeen.put(page.nextToken(), pages);
      token = page.nextToken();
    }
    throw new AssertionError("the listing did not end after " + MAX_PAGES + " pages");
  }
}
