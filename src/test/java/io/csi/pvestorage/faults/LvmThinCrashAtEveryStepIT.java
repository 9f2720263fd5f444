package io.csi.pvestorage.faults;

import io.csi.pvestorage.conformance.Backend;

/** Crash at every step on the lvmthin backend. */
class LvmThinCrashAtEveryStepIT extends CrashAtEveryStepBase {

  @Override
  Backend backend() {
    return Backend.LVM_THIN;
  }
}
