package io.csi.pvestorage.conformance;

import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The conformance suite on real storage in the guest, once per backend: LVM-thin (thin LVs,
 * ext4 for mount access), zvols and datasets, each a {@link Nested} class with every case of
 * {@link CsiConformanceSuite}.
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

  private final SharedDriver shared = new SharedDriver(
      vm -> GuestDriver.start(vm, GUEST_PORT, GuestDriver.LockMode.LEASE, POOL_REFRESH));

  @AfterAll
  void stopDriver() {
    shared.close();
  }

  /** The whole suite on one backend, against the shared driver. */
  abstract class OnTheSharedDriver extends CsiConformanceSuite {

    @Override
    SharedDriver sharedDriver() {
      return shared;
    }
  }

  @Nested
  class LvmThin extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.LVM_THIN;
    }
  }

  @Nested
  class ZfsZvol extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.ZFS_ZVOL;
    }
  }

  @Nested
  class ZfsDataset extends OnTheSharedDriver {
    @Override
    Backend backend() {
      return Backend.ZFS_DATASET;
    }
  }
}
