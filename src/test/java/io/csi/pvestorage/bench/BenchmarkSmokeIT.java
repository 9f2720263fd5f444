package io.csi.pvestorage.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Keeps the VM benchmarks from rotting, cheaply, in the default verify: {@link RpcBenchmark}'s
 * every operation once on one backend, and {@link ScaleBenchmark} at N = 2 with a burst of 3, on
 * one driver in the shared VM (the driver's start in the emulated guest is most of the cost, so
 * the two share it). Backend zvol: it has the most steps on both sides of the RPC benchmark (the
 * link wait, the hide of a volume with snapshots) and the fixture in one command per snapshot
 * round. It checks that every side ran and was counted and that the pool ends as it began, never
 * a time (this is not a timed test).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
@ResourceLock(GuestResources.ZPOOL)
class BenchmarkSmokeIT {

  /** Short, so that the scale benchmark's wait for one gauge refresh is short too. */
  private static final Duration REFRESH = Duration.ofSeconds(10);
  private static final int BURST = 3;

  private GuestDriver driver;

  private GuestDriver driver(VmHarness vm) throws InterruptedException {
    if (driver == null || !driver.isAlive()) {
      driver = ScaleBenchmark.start(vm, BURST, REFRESH);
    }
    return driver;
  }

  @AfterAll
  void stopDriver() {
    if (driver != null) {
      driver.close();
    }
  }

  @Test
  void everyOperationRunsOnceThroughTheDriverAndAsPvesSequence(VmHarness vm) throws Exception {
    GuestDriver driver = driver(vm);
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

  @Test
  void theFlatCostTableAndABurstAreMeasuredAndCleanedUp(VmHarness vm) throws Exception {
    GuestDriver driver = driver(vm);
    String before = datasets(driver);
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    ScaleBenchmark bench = new ScaleBenchmark(driver, REFRESH,
        new PrintStream(printed, true, StandardCharsets.UTF_8));
    List<ScaleBenchmark.Cost> costs;
    ScaleBenchmark.Burst burst;
    try {
      costs = bench.flatCost(Backend.ZFS_ZVOL, List.of(2), 1);
      burst = bench.burst(Backend.ZFS_ZVOL, BURST);
    } finally {
      bench.removeFixture(Backend.ZFS_ZVOL); // the VM is shared with the classes after this one
    }
    String table = printed.toString(StandardCharsets.UTF_8)
        + ScaleBenchmark.costTable(costs) + ScaleBenchmark.burstTable(List.of(burst));
    System.out.println(table);
    // CreateVolume, ListVolumes whole and paged, ListSnapshots, GetCapacity, the gauge refresh:
    // each ran the backend's commands by the driver's meters
    assertEquals(6, costs.size(), table);
    for (ScaleBenchmark.Cost cost : costs) {
      assertTrue(cost.commandCount() >= 1, cost.call() + ": " + table);
    }
    assertEquals(BURST, burst.succeeded(), table);
    assertTrue(burst.leaseWrites() >= 1, "the burst wrote no Lease: " + table);
    assertEquals(before, datasets(driver), "the benchmark left datasets or snapshots behind");
  }

  private static String datasets(GuestDriver driver) {
    return driver.must("zfs", "list", "-H", "-o", "name", "-t", "all", "-r",
        VmHarness.ZFS_DATASET).stdoutText();
  }
}
