package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarnessExtension;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/** The shared storage-plugin cases on real zvols ({@code raw}), ext4 on top for data. */
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.ZPOOL)
class ZfsZvolContractIT extends ZfsContractBase {}
