package io.csi.pvestorage.conformance;

import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The conformance suite's lifecycle cases against the driver's OCI image, run by runc in the
 * guest with the node DaemonSet's settings from the chart ({@link ContainerDriver}): the same
 * create, stage, publish, write, snapshot, restore, expand, unpublish, unstage and delete as
 * {@link LifecycleCases}, with every storage command going through the chart's command prefix
 * into the host's (the guest's) namespaces, on LVM-thin, a zvol and a dataset.
 *
 * <p>One container serves the three backends, as the node pod serves every storage of its
 * node: starting it (the JVM and the tool check in the emulated guest) is most of what a
 * backend's cases cost, so it is started by the first backend's cases and stopped after the
 * last. The LVM-thin cases run beside the ZFS ones, as in {@link ConformanceIT}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(VmHarnessExtension.class)
class ContainerLifecycleIT {

  private static final int GUEST_PORT = 10_999;

  private final SharedDriver shared =
      new SharedDriver(vm -> GuestDriver.startInContainer(vm, GUEST_PORT, List.of()));

  @AfterAll
  void stopContainer() {
    shared.close();
  }

  /** The lifecycle cases of one backend, against the shared container. */
  abstract class OnTheSharedContainer extends LifecycleCases {

    @Override
    SharedDriver sharedDriver() {
      return shared;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.THIN_POOL)
  class LvmThin extends OnTheSharedContainer {
    @Override
    Backend backend() {
      return Backend.LVM_THIN;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsZvol extends OnTheSharedContainer {
    @Override
    Backend backend() {
      return Backend.ZFS_ZVOL;
    }
  }

  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  @ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
  @ResourceLock(ConformanceBase.ZPOOL)
  class ZfsDataset extends OnTheSharedContainer {
    @Override
    Backend backend() {
      return Backend.ZFS_DATASET;
    }
  }
}
