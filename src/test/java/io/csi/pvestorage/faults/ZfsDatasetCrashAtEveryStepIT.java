package io.csi.pvestorage.faults;

import io.csi.pvestorage.conformance.Backend;

/** Crash at every step on the dataset backend. */
class ZfsDatasetCrashAtEveryStepIT extends CrashAtEveryStepBase {

  @Override
  Backend backend() {
    return Backend.ZFS_DATASET;
  }
}
