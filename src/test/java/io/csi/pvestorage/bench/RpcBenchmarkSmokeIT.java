package io.csi.pvestorage.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Keeps {@link RpcBenchmark} from rotting: every operation once on one backend (zvol: it has
 * the most steps on both sides, the link wait and the hide of a volume with snapshots) in the
 * shared VM, and the table printed. It checks that each side ran and was counted, never the
 * times (this is not a timed test): every RPC ran at least one storage command by the driver's
 * meters, every PVE sequence at least one command, and the pool ends as it began.
 */
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
@ResourceLock(GuestResources.ZPOOL)
class RpcBenchmarkSmokeIT {

  @Test
  void everyOperationRunsOnceThroughTheDriverAndAsPvesSequence(VmHarness vm) throws Exception {
    try (GuestDriver driver = RpcBenchmark.start(vm)) {
      String before = datasets(driver);
      RpcBenchmark bench = new RpcBenchmark(driver);
      List<RpcBenchmark.Row> rows = new ArrayList<>();
      for (RpcBenchmark.Operation operation : RpcBenchmark.Operation.values()) {
        rows.add(bench.measure(operation, Backend.ZFS_ZVOL, 1));
      }
      String table = RpcBenchmark.table(1, rows, List.of());
      System.out.println(table);
      assertEquals(RpcBenchmark.Operation.values().length, rows.size(), table);
      for (RpcBenchmark.Row row : rows) {
        assertTrue(row.driverCommandCount() >= 1, row.operation() + ": " + table);
        assertTrue(row.pveCommands() >= 1, row.operation() + ": " + table);
        assertTrue(row.driverMillis() > 0 && row.pveMillis() > 0, table);
      }
      assertEquals(before, datasets(driver), "the benchmark left datasets or snapshots behind");
    }
  }

  private static String datasets(GuestDriver driver) {
    return driver.must("zfs", "list", "-H", "-o", "name", "-t", "all", "-r",
        VmHarness.ZFS_DATASET).stdoutText();
  }
}
