package io.csi.pvestorage.faults;

import io.csi.pvestorage.conformance.Backend;

/** Crash at every step on the zvol backend. */
class ZfsZvolCrashAtEveryStepIT extends CrashAtEveryStepBase {

  @Override
  Backend backend() {
    return Backend.ZFS_ZVOL;
  }
}
