package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.harness.VmHarnessExtension;
import org.junit.jupiter.api.extension.ExtendWith;

/** The shared storage-plugin cases on real zvols ({@code raw}), ext4 on top for data. */
@ExtendWith(VmHarnessExtension.class)
class ZfsZvolContractIT extends ZfsContractBase {}
