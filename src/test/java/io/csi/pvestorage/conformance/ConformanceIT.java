package io.csi.pvestorage.conformance;

import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The conformance suite on real storage in the guest, once per backend: LVM-thin (thin LVs,
 * ext4 for mount access), zvols and datasets, each a {@link Nested} class with every case of
 * {@link CsiConformanceSuite}.
 *
 * <p>The LVM-thin cases run beside the ZFS ones (zvols, then datasets), each backend's cases one
 * at a time ({@link ConformanceBase#THIN_POOL}, {@link ConformanceBase#ZPOOL}), as a node plugin
 * serves several storages at once: measured 2026-12-07, the driver spent 1,898 s of the suite's
 * 2,109 s in its RPCs, almost all of it in storage and node commands run one after another, with
 * the emulated guest using about one of its two vCPUs.
 *
 * <p>One driver process serves the three ({@link SharedDriver}). Its pool gauges refresh at the production default (30 s): no case
 * reads them, and at the 2 s a metrics test wants, the refresh's {@code lvs}, {@code zfs list}
 * and {@code zpool list} ran back to back in the emulated guest, a whole vCPU, with {@code lvs}
 * holding the VG lock that every {@code lvcreate} waits for (measured 2026-12-07: 160 {@code
 * lvs} runs, 2.3 s median, during six LVM-thin cases).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(VmHarnessExtension.class)
class ConformanceIT {

  private static final int GUEST_PORT = 10_000;
  private static final Duration POOL_REFRESH = Duration.ofSeconds(30);
  private static final String METRICS_FILE = "target/conformance-driver-metrics.txt";

  private final SharedDriver shared = new SharedDriver(
      vm -> GuestDriver.start(vm, GUEST_PORT, GuestDriver.LockMode.LEASE, POOL_REFRESH));

  /**
   * Leaves the driver's metrics in {@value #METRICS_FILE} before stopping it: the RPC and
   * storage-command histograms say where the suite's time went (in the driver, in which
   * commands, or in the cases themselves), which is what keeps {@code .ci/run} in its budget.
   */
  @AfterAll
  void stopDriver() throws java.io.IOException {
    try {
      var metrics = shared.running().map(GuestDriver::scrapeMetrics);
      if (metrics.isPresent()) {
        java.nio.file.Files.writeString(java.nio.file.Path.of(METRICS_FILE), metrics.get());
      }
    } finally {
      shared.close();
    }
  }

  /** The whole suite on one backend, against the shared driver. */
  abstract class OnTheSharedDriver extends CsiConformanceSuite {

    @Override
    SharedDriver sharedDriver() {
      return shared;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.THIN_POOL)
  class LvmThin extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.LVM_THIN;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsZvol extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.ZFS_ZVOL;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsDataset extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.ZFS_DATASET;
    }
  }

  /** Issue 18's LUKS2 cases ({@link EncryptionCases}) on one raw backend, on the same driver. */
  abstract class EncryptedOnTheSharedDriver extends EncryptionCases.Luks2 {

    @Override
    SharedDriver sharedDriver() {
      return shared;
    }
  }

  /** The LUKS2 cases on LVM-thin. */
  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.THIN_POOL)
  class LvmThinEncrypted extends EncryptedOnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.LVM_THIN;
    }
  }

  /** Issue 18's LUKS2 cases on zvols. */
  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsZvolEncrypted extends EncryptedOnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.ZFS_ZVOL;
    }
  }

  /** Issue 18 on datasets: what a dataset cannot have is refused before anything is made. */
  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsDatasetEncryption extends EncryptionCases.DatasetRefusals {
    @Override
    SharedDriver sharedDriver() {
      return shared;
    }
  }
}
