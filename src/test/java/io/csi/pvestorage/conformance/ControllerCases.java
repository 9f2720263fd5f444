package io.csi.pvestorage.conformance;

import static io.grpc.Status.Code.ABORTED;
import static io.grpc.Status.Code.ALREADY_EXISTS;
import static io.grpc.Status.Code.FAILED_PRECONDITION;
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
import io.csi.pvestorage.harness.VmHarness;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
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

  // ---- a volume this driver did not make (issue 13 point 3, controller side) ---------------
  // The node side of the same rule is in NodeCases; the point-4 cases are at the end of this
  // class.

  /**
   * A disk made by hand in the guest with a Proxmox VE name (lvcreate in the thin pool, zfs
   * create under the pool dataset) carries no CSI name: CreateSnapshot of it, a CreateVolume
   * cloning it and DeleteVolume are refused, ListVolumes does not show it, and afterwards it
   * holds the same bytes at the same size, and the pools hold no new LV, dataset or snapshot.
   */
  @Test
  void controller_aVolumeMadeByHandIsNeverSnapshottedClonedOrDeleted() {
    HandMadeDisk disk = handMadeDisk();
    long size = disk.sizeBytes();
    String written = disk.writePattern();
    List<String> poolsBefore = backendPools(driver.guest());

    StatusRuntimeException snapshot = assertCodeIn(List.of(NOT_FOUND, FAILED_PRECONDITION),
        () -> createSnapshot(uniqueName("snapshot"), disk.volumeId()));
    assertTrue(String.valueOf(snapshot.getStatus().getDescription()).contains(disk.volumeId()),
        "the message names the volume: " + snapshot.getStatus().getDescription());
    CreateVolumeRequest.Builder clone = volumeRequest(uniqueName("pvc"), 0, mountCapability());
    clone.getVolumeContentSourceBuilder().getVolumeBuilder().setVolumeId(disk.volumeId());
    StatusRuntimeException cloned = assertCodeIn(List.of(NOT_FOUND, FAILED_PRECONDITION),
        () -> createVolume(clone.build()));
    assertTrue(String.valueOf(cloned.getStatus().getDescription()).contains(disk.volumeId()),
        "the message names the volume: " + cloned.getStatus().getDescription());
    StatusRuntimeException deleted = assertCode(FAILED_PRECONDITION,
        () -> controller().deleteVolume(deleteRequest(disk.volumeId())));
    assertTrue(String.valueOf(deleted.getStatus().getDescription()).contains(disk.volumeId()),
        "the message names the volume: " + deleted.getStatus().getDescription());
    assertFalse(listAllVolumes().containsKey(disk.volumeId()), "ListVolumes shows only ours");

    assertEquals(poolsBefore, backendPools(driver.guest()), "nothing was made or removed");
    assertEquals(size, disk.sizeBytes(), "the same size");
    assertEquals(written, disk.readPattern(), "the same bytes");
  }

  /** A disk made with the storage's own tools, removed after the case. */
  interface HandMadeDisk {
    /** Its volume ID as this driver would spell it. */
    String volumeId();

    long sizeBytes();

    /** Writes 4 MiB of random data into it; their sha256. */
    String writePattern();

    /** The sha256 of what {@link #writePattern} wrote, read back from the disk. */
    String readPattern();
  }

  /**
   * A disk named like a Proxmox VE guest's, made by hand on this backend's storage: a thin LV,
   * a zvol, or a dataset with a refquota.
   */
  HandMadeDisk handMadeDisk() {
    String pattern = driver.workDir() + "/hand-made-pattern";
    driver.must("dd", "if=/dev/urandom", "of=" + pattern, "bs=1M", "count=4", "status=none");
    if (backend().format().equals("subvol")) {
      String dataset = VmHarness.ZFS_DATASET + "/subvol-100-disk-9";
      driver.must("zfs", "create", "-o", "refquota=64M", dataset);
      afterCase("zfs destroy " + dataset, () -> driver.must("zfs", "destroy", "-r", dataset));
      String file = driver.must("zfs", "get", "-H", "-o", "value", "mountpoint", dataset)
          .stdoutText().strip() + "/pattern";
      return new HandMadeDisk() {
        public String volumeId() {
          return backend().storage() + ":subvol-100-disk-9";
        }

        public long sizeBytes() {
          return Long.parseLong(driver.must("zfs", "get", "-H", "-p", "-o", "value", "refquota",
              dataset).stdoutText().strip());
        }

        public String writePattern() {
          driver.must("cp", pattern, file);
          driver.must("sync", "-f", file);
          return sha256sum(pattern);
        }

        public String readPattern() {
          return sha256sum(file);
        }
      };
    }
    String device;
    if (backend().storage().equals(GuestDriver.LVM_STORAGE)) {
      String lv = VmHarness.VG + "/vm-100-disk-9";
      driver.must("lvcreate", "-V", "64M", "-T", VmHarness.VG + "/" + VmHarness.THIN_POOL,
          "-n", "vm-100-disk-9");
      afterCase("lvremove " + lv, () -> driver.must("lvremove", "-f", lv));
      device = "/dev/" + lv;
    } else {
      String zvol = VmHarness.ZFS_DATASET + "/vm-100-disk-9";
      driver.must("zfs", "create", "-V", "64M", zvol);
      afterCase("zfs destroy " + zvol, () -> driver.must("zfs", "destroy", "-r", zvol));
      device = "/dev/zvol/" + zvol;
      awaitBlockDevice(device);
    }
    String back = driver.workDir() + "/hand-made-back";
    return new HandMadeDisk() {
      public String volumeId() {
        return backend().storage() + ":vm-100-disk-9";
      }

      public long sizeBytes() {
        return Long.parseLong(driver.must("blockdev", "--getsize64", device).stdoutText()
            .strip());
      }

      public String writePattern() {
        driver.must("dd", "if=" + pattern, "of=" + device, "bs=1M", "oflag=direct",
            "conv=fsync", "status=none");
        return sha256sum(pattern);
      }

      public String readPattern() {
        driver.must("dd", "if=" + device, "of=" + back, "bs=1M", "count=4", "iflag=direct",
            "status=none");
        return sha256sum(back);
      }
    };
  }

  /** zvol links appear a little after {@code zfs create} returns (PVE polls for them too). */
  private void awaitBlockDevice(String device) {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (driver.run("test", "-b", device).exitCode() != 0) {
      if (System.nanoTime() > end) {
        throw new AssertionError(device + " did not appear within 30 s of zfs create");
      }
      driver.run("udevadm", "settle");
    }
  }

  private String sha256sum(String path) {
    return driver.must("sha256sum", path).stdoutText().split("\\s+")[0];
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
    assertEquals(new HashSet<>(ours(all.keySet())), new HashSet<>(ours(walked)),
        "pages of 1 cover the listing of this storage (the other backend runs meanwhile)");
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

  // ---- issue 13 point 4: input as the CSI spec allows it ------------------------------------
  // (a block of its own: other cases are added above and in other blocks)

  /** Strings that no volume or snapshot ID of this driver can be, on this backend's storage. */
  private List<String> neverIssuedIds() {
    String storage = backend().storage();
    return List.of("x".repeat(16 << 10), "no-colon", "\u0000", storage + ":",
        storage + ":../../etc/passwd", storage + ":/dev/sda", storage + ":vm-0-a\nb",
        storage + ":vm-0-a b", storage + ":vm-0-\u00e4", storage + ":" + "v".repeat(200),
        storage + ":vm-0-a@", storage + ":vm-0-a@Not_A_Snapshot", "@snap");
  }

  @Test
  void controller_idsThisDriverNeverIssuedAreObjectsThatDoNotExist() {
    List<String> before = backendPools(driver.guest());
    for (String id : neverIssuedIds()) {
      String shown = id.length() > 40 ? id.substring(0, 40) + "..." : id;
      controller().deleteVolume(deleteRequest(id));
      controller().deleteSnapshot(csi.v1.DeleteSnapshotRequest.newBuilder().setSnapshotId(id)
          .build());
      StatusRuntimeException e = assertCode(NOT_FOUND,
          () -> controller().validateVolumeCapabilities(validateRequest(id, mountCapability())));
      assertTrue(e.getStatus().getDescription().length() < 2200,
          "an echoed ID is bounded: " + e.getStatus().getDescription().length());
      assertFalse(e.getStatus().getDescription().contains("\n"), "and escaped");
      assertCode(NOT_FOUND, () -> controller().createSnapshot(csi.v1.CreateSnapshotRequest
          .newBuilder().setName(uniqueName("snapshot")).setSourceVolumeId(id).build()));
      CreateVolumeRequest.Builder restore = volumeRequest(uniqueName("pvc"), VOLUME_BYTES,
          mountCapability());
      restore.getVolumeContentSourceBuilder().getSnapshotBuilder().setSnapshotId(id);
      assertCode(NOT_FOUND, () -> createVolume(restore.build()));
      CreateVolumeRequest.Builder clone = volumeRequest(uniqueName("pvc"), VOLUME_BYTES,
          mountCapability());
      clone.getVolumeContentSourceBuilder().getVolumeBuilder().setVolumeId(id);
      assertCode(NOT_FOUND, () -> createVolume(clone.build()));
      assertEquals(0, controller().listSnapshots(csi.v1.ListSnapshotsRequest.newBuilder()
          .setSnapshotId(id).build()).getEntriesCount(), shown);
      assertEquals(0, controller().listSnapshots(csi.v1.ListSnapshotsRequest.newBuilder()
          .setSourceVolumeId(id).build()).getEntriesCount(), shown);
    }
    assertEquals(before, backendPools(driver.guest()), "nothing was made or removed");
  }

  @Test
  void controller_namesWithATabAndANewlineGetTheirVolumeAndSnapshotAgainOnRetry() {
    String name = "pvc\twith a tab\nFORGED-" + UUID.randomUUID();
    CreateVolumeRequest request = volumeRequest(name, VOLUME_BYTES, mountCapability()).build();
    Volume volume = createVolume(request);
    assertEquals(volume, controller().createVolume(request).getVolume(),
        "the retry finds the volume by the name stored on it");
    assertTrue(listAllVolumes().containsKey(volume.getVolumeId()));
    String volname = volume.getVolumeId().substring(backend().storage().length() + 1);
    assertEquals(name, storedName(volname), "the name round-trips through the storage");

    String snapName = "snapshot\twith a tab\nFORGED-" + UUID.randomUUID();
    csi.v1.Snapshot snapshot = createSnapshot(snapName, volume.getVolumeId()).getSnapshot();
    assertEquals(snapshot, controller().createSnapshot(csi.v1.CreateSnapshotRequest.newBuilder()
        .setName(snapName).setSourceVolumeId(volume.getVolumeId()).build()).getSnapshot(),
        "the retry finds the snapshot by the name stored on it");
    assertEquals(List.of(snapshot.getSnapshotId()), controller().listSnapshots(
        csi.v1.ListSnapshotsRequest.newBuilder().setSourceVolumeId(volume.getVolumeId()).build())
        .getEntriesList().stream().map(e -> e.getSnapshot().getSnapshotId()).toList());

    // An incompatible request for the same name echoes it: escaped in the answer and the log.
    StatusRuntimeException e = assertCode(ALREADY_EXISTS, () -> controller().createVolume(
        volumeRequest(name, 2 * VOLUME_BYTES, mountCapability()).build()));
    String escaped = name.replace("\t", "\\t").replace("\n", "\\n");
    assertTrue(e.getStatus().getDescription().contains(escaped), e.getStatus().getDescription());
    String log = driver.log();
    assertTrue(log.contains(escaped), "the log names the volume escaped");
    assertTrue(log.lines().noneMatch(l -> l.startsWith("FORGED")), "no forged log line");
  }

  /** The CSI name recorded on a volume, read from the storage itself and decoded. */
  private String storedName(String volname) {
    if (backend().storage().equals(GuestDriver.LVM_STORAGE)) {
      String tags = driver.must("lvs", "--noheadings", "-o", "lv_tags",
          io.csi.pvestorage.harness.VmHarness.VG + "/" + volname).stdoutText().strip();
      assertFalse(tags.contains("\t") || tags.contains("\n"), "stored encoded: " + tags);
      return io.csi.pvestorage.storage.lvmthin.LvTags.decode(List.of(tags.split(",")))
          .orElseThrow(() -> new AssertionError("no name tag on " + volname + ": " + tags))
          .csiName();
    }
    String value = driver.must("zfs", "get", "-H", "-o", "value", "pve-storage.csi.io:csi-name",
        io.csi.pvestorage.harness.VmHarness.ZFS_DATASET + "/" + volname).stdoutText().strip();
    assertFalse(value.contains("\t") || value.contains("\n"), "stored percent-encoded: " + value);
    return java.net.URLDecoder.decode(value.replace("+", "%2B"), StandardCharsets.UTF_8);
  }

  @Test
  void controller_requestBytesThatDoNotParseAreInvalid() {
    for (byte[] bytes : List.of(new byte[] {(byte) 0xff, (byte) 0xff, 1, 2},
        new byte[] {0x0a, 0x05, 'a'}, new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28})) {
      StatusRuntimeException e = assertCode(INVALID_ARGUMENT, () -> io.csi.pvestorage.csi
          .RawRequests.call(driver.channel(), csi.v1.ControllerGrpc.getCreateVolumeMethod(),
              bytes, io.grpc.CallOptions.DEFAULT.withDeadlineAfter(CALL_SECONDS,
                  java.util.concurrent.TimeUnit.SECONDS)));
      assertTrue(e.getStatus().getDescription().contains("CreateVolume request"),
          e.getStatus().getDescription());
    }
    assertTrue(driver.isAlive());
  }

  @Test
  void controller_aHugeMaxEntriesAfterATokenIsTheRestOfTheListing() {
    createMountVolume();
    createMountVolume();
    List<String> all = new ArrayList<>(listAllVolumes().keySet());
    ListVolumesResponse first = controller().listVolumes(ListVolumesRequest.newBuilder()
        .setMaxEntries(1).build());
    // Pages are cut after the last volume ID handed out; the other backend's volumes may come
    // and go meanwhile, so the rest is compared on this storage's volumes.
    String firstId = first.getEntries(0).getVolume().getVolumeId();
    List<String> after = ours(all.stream().filter(id -> id.compareTo(firstId) > 0).toList());
    for (int huge : new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE - 1}) {
      ListVolumesResponse rest = controller().listVolumes(ListVolumesRequest.newBuilder()
          .setMaxEntries(huge).setStartingToken(first.getNextToken()).build());
      assertEquals(after, ours(rest.getEntriesList().stream()
          .map(e -> e.getVolume().getVolumeId()).toList()));
      assertEquals("", rest.getNextToken());
    }
    assertCode(INVALID_ARGUMENT, () -> controller().listVolumes(ListVolumesRequest.newBuilder()
        .setMaxEntries(-1).build()));
  }
}
