package io.csi.pvestorage.conformance;

import io.csi.pvestorage.harness.VmHarness;
import java.util.List;

/**
 * The conformance suite's lifecycle cases against the driver's OCI image, run by runc in the
 * guest with the node DaemonSet's settings from the chart ({@link ContainerDriver}): the same
 * create, stage, publish, write, snapshot, restore, expand, unpublish, unstage and delete as
 * {@link LifecycleCases}, with every storage command going through the chart's command prefix
 * into the host's (the guest's) namespaces. One subclass per backend is an {@code *IT} class.
 */
abstract class ContainerLifecycleCases extends LifecycleCases {

  @Override
  GuestDriver launchDriver(VmHarness vm) throws InterruptedException {
    return GuestDriver.startInContainer(vm, guestPort(), List.of());
  }
}
