package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.harness.VmHarnessExtension;
import io.csi.pvestorage.storage.ImageFormat;
import org.junit.jupiter.api.extension.ExtendWith;

/** The shared storage-plugin cases on real filesystem datasets ({@code subvol}, refquota). */
@ExtendWith(VmHarnessExtension.class)
class ZfsDatasetContractIT extends ZfsContractBase {

  @Override
  protected ImageFormat format() {
    return ImageFormat.SUBVOL;
  }
}
