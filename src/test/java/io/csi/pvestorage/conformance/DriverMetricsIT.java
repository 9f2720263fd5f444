package io.csi.pvestorage.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.CapacityRange;
import csi.v1.ControllerGrpc;
import csi.v1.CreateSnapshotRequest;
import csi.v1.CreateVolumeRequest;
import csi.v1.DeleteSnapshotRequest;
import csi.v1.DeleteVolumeRequest;
import csi.v1.GetCapacityRequest;
import csi.v1.VolumeCapability;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The driver's /metrics after real work in the VM (Lease lock through the mock API server, real
 * LVM-thin and ZFS): every meter family the operator's documentation names is there with its
 * Prometheus type and bounded labels, and no label carries a volume, snapshot or claim name.
 */
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
@ResourceLock(GuestResources.ZPOOL)
class DriverMetricsIT {

  private static final Pattern SAMPLE = Pattern.compile("^([a-z_]+)(\\{([^}]*)})? (\\S+)$");

  @Test
  void aDriverDoingRealWorkExportsItsMeters(VmHarness vm) throws Exception {
    try (GuestDriver driver = GuestDriver.start(vm, 10020, GuestDriver.LockMode.LEASE)) {
      ControllerGrpc.ControllerBlockingStub controller =
          ControllerGrpc.newBlockingStub(driver.channel());
      String volume = controller.createVolume(CreateVolumeRequest.newBuilder()
          .setName("pvc-metrics-it")
          .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(64L << 20))
          .addVolumeCapabilities(VolumeCapability.newBuilder()
              .setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4"))
              .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                  .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER)))
          .putParameters("storage", GuestDriver.LVM_STORAGE)
          .putParameters("csi.storage.k8s.io/pvc/name", "metrics-claim").build())
          .getVolume().getVolumeId();
      String snapshot = controller.createSnapshot(CreateSnapshotRequest.newBuilder()
          .setName("snapshot-metrics-it").setSourceVolumeId(volume).build())
          .getSnapshot().getSnapshotId();
      StatusRuntimeException missing = assertThrows(StatusRuntimeException.class,
          () -> controller.createSnapshot(CreateSnapshotRequest.newBuilder().setName("s-gone")
              .setSourceVolumeId(GuestDriver.LVM_STORAGE + ":vm-0-gone").build()));
      assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
      controller.getCapacity(GetCapacityRequest.newBuilder()
          .putParameters("storage", GuestDriver.ZFS_STORAGE).build());
      controller.deleteSnapshot(DeleteSnapshotRequest.newBuilder().setSnapshotId(snapshot)
          .build());
      controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(volume).build());

      String text = awaitPoolGauges(driver);

      for (String[] family : List.of(
          new String[] {"pve_csi_rpc_duration_seconds", "histogram"},
          new String[] {"pve_csi_storage_command_duration_seconds", "histogram"},
          new String[] {"pve_csi_lock_wait_seconds", "histogram"},
          new String[] {"pve_csi_lock_hold_seconds", "histogram"},
          new String[] {"pve_csi_lock_acquisitions_total", "counter"},
          new String[] {"pve_csi_pool_size_bytes", "gauge"},
          new String[] {"pve_csi_pool_used_bytes", "gauge"},
          new String[] {"pve_csi_pool_allocatable_bytes", "gauge"},
          new String[] {"pve_csi_pool_metadata_used_bytes", "gauge"},
          new String[] {"pve_csi_pool_volumes", "gauge"},
          new String[] {"pve_csi_pool_snapshots", "gauge"},
          new String[] {"pve_csi_pool_health", "gauge"},
          new String[] {"pve_csi_tool_ok", "gauge"},
          new String[] {"pve_csi_ready", "gauge"},
          new String[] {"pve_csi_build_info", "gauge"},
          new String[] {"process_resident_memory_bytes", "gauge"},
          new String[] {"jvm_memory_used_bytes", "gauge"},
          new String[] {"process_cpu_usage", "gauge"})) {
        assertTrue(text.contains("# TYPE " + family[0] + " " + family[1]),
            family[0] + " as a " + family[1] + "\n" + text);
      }
      assertSample(text, "pve_csi_rpc_duration_seconds_count",
          "code=\"OK\",method=\"CreateVolume\"");
      assertSample(text, "pve_csi_rpc_duration_seconds_count",
          "code=\"NOT_FOUND\",method=\"CreateSnapshot\"");
      assertSample(text, "pve_csi_storage_command_duration_seconds_count",
          "outcome=\"ok\",verb=\"lvcreate\"");
      assertSample(text, "pve_csi_storage_command_duration_seconds_count",
          "outcome=\"ok\",verb=\"zfs list\"");
      assertSample(text, "pve_csi_storage_command_duration_seconds_count",
          "outcome=\"ok\",verb=\"zpool list\"");
      assertSample(text, "pve_csi_lock_hold_seconds_count", "storage=\"local-lvm\"");
      assertSample(text, "pve_csi_lock_acquisitions_total",
          "storage=\"local-lvm\",takeover=\"false\"");
      assertSample(text, "pve_csi_pool_size_bytes", "backend=\"lvmthin\",storage=\"local-lvm\"");
      assertSample(text, "pve_csi_pool_size_bytes", "backend=\"zfspool\",storage=\"local-zfs\"");
      assertSample(text, "pve_csi_pool_health",
          "backend=\"zfspool\",state=\"ONLINE\",storage=\"local-zfs\"");
      assertSample(text, "pve_csi_tool_ok", "backend=\"zfspool\",tool=\"zfs\"");
      assertSample(text, "pve_csi_ready", "");
      assertSample(text, "process_resident_memory_bytes", "");
      // Every series names the node it comes from (issue 15: metrics sized for a fleet).
      for (String line : text.split("\n")) {
        if (!line.isBlank() && !line.startsWith("#")) {
          assertTrue(line.contains("node=\"" + GuestDriver.NODE_ID + "\""), line);
        }
      }

      for (String line : text.split("\n")) {
        Matcher m = SAMPLE.matcher(line);
        if (line.startsWith("pve_csi_") && m.matches() && m.group(3) != null) {
          for (String label : m.group(3).split(",")) {
            String key = label.substring(0, label.indexOf('='));
            assertTrue(List.of("method", "code", "verb", "outcome", "storage", "backend",
                "takeover", "kind", "state", "le", "tool", "node", "version", "csi_spec", "mode",
                "source")
                .contains(key), "unbounded label: " + line);
          }
          // The names this test gave its objects, never a label value ("snapshot-" alone
          // would also match the orphan meters' bounded kind "snapshot-without-content").
          assertFalse(line.contains("pvc-metrics-it") || line.contains("snapshot-metrics-it")
              || line.contains("s-gone") || line.contains("metrics-claim")
              || line.contains("vm-0-"), line);
        }
      }
    }
  }

  /** The pool gauges appear after the first refresh (every 2 s in the guest driver). */
  private static String awaitPoolGauges(GuestDriver driver) throws InterruptedException {
    Instant until = Instant.now().plus(Duration.ofSeconds(60));
    String text = driver.scrapeMetrics();
    while (!(text.contains("pve_csi_pool_size_bytes{backend=\"zfspool\"")
        && text.contains("pve_csi_pool_size_bytes{backend=\"lvmthin\""))
        && Instant.now().isBefore(until)) {
      Thread.sleep(500);
      text = driver.scrapeMetrics();
    }
    return text;
  }

  /**
   * A sample with these labels (sorted, as the registry writes them) and the constant node
   * label in its place among them is above 0.
   */
  private static void assertSample(String text, String name, String labels) {
    java.util.TreeMap<String, String> all = new java.util.TreeMap<>();
    for (String label : labels.isEmpty() ? new String[0] : labels.split(",")) {
      all.put(label.substring(0, label.indexOf('=')), label);
    }
    all.put("node", "node=\"" + GuestDriver.NODE_ID + "\"");
    String series = name + "{" + String.join(",", all.values()) + "}";
    Pattern p = Pattern.compile("(?m)^" + Pattern.quote(series) + " ([0-9.eE+-]+)$");
    Matcher m = p.matcher(text);
    assertTrue(m.find(), series + " missing\n" + text);
    assertTrue(Double.parseDouble(m.group(1)) > 0, series + " is 0");
  }
}
