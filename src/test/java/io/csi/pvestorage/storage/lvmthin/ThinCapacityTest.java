package io.csi.pvestorage.storage.lvmthin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class ThinCapacityTest {

  private static final long GIB = 1L << 30;

  @Test
  void recordedPoolWithVolumes() {
    List<LogicalVolume> lvs = LvmReportParser.parse(
        Fixture.load("lvm", "2.03.16", "lvs-volumes-snapshot-clone-inactive").stdoutText());
    LogicalVolume pool = lvs.stream().filter(lv -> lv.name().equals("data")).findFirst().orElseThrow();
    PoolStatus status = ThinCapacity.of(pool, lvs, CapacityPolicy.DEFAULT);

    assertEquals(4294967296L, status.totalBytes());
    // data_percent 0.81 of 4 GiB, metadata_percent 11.72 of 4 MiB
    assertEquals(34789235L, status.usedBytes());
    assertEquals(4294967296L - 34789235L, status.availableBytes());
    assertEquals(OptionalLong.of(4194304L), status.metadataTotalBytes());
    assertEquals(OptionalLong.of(491572L), status.metadataUsedBytes());
    // four thin LVs: 1 GiB volume, 1 GiB snapshot, 1 GiB clone, 512 MiB inactive volume
    assertEquals(3 * GIB + GIB / 2, status.provisionedBytes());
    assertEquals(2 * 4 * GIB - (3 * GIB + GIB / 2), status.allocatableBytes());
    assertTrue(status.active());
  }

  @Test
  void recordedFullPoolAllocatesNothing() {
    List<LogicalVolume> lvs = LvmReportParser.parse(
        Fixture.load("lvm", "2.03.16", "lvs-pool-full").stdoutText());
    LogicalVolume small = lvs.stream().filter(lv -> lv.name().equals("small")).findFirst().orElseThrow();
    PoolStatus status = ThinCapacity.of(small, lvs, CapacityPolicy.DEFAULT);
    assertEquals(67108864L, status.usedBytes());
    assertEquals(0, status.availableBytes());
    assertEquals(268435456L, status.provisionedBytes(), "only the LVs of this pool count");
    assertEquals(0, status.allocatableBytes());
  }

  /** Issue 14: the refusal says which threshold the pool reached, with LVM's percentage. */
  @Test
  void theReasonNamesTheThresholdReached() {
    CapacityPolicy policy = new CapacityPolicy(2.0, 90, 80);
    LogicalVolume dataFull = pool(10 * GIB, "93.75", "12.50");
    assertEquals("its data is 93.75 % full (data limit 90 %)", ThinCapacity.whyNoRoom(dataFull,
        ThinCapacity.of(dataFull, List.of(dataFull), policy), policy));
    LogicalVolume metaFull = pool(10 * GIB, "10.00", "80.00");
    assertEquals("its metadata is 80.00 % full (metadata limit 80 %; lvextend "
        + "--poolmetadatasize grows it)", ThinCapacity.whyNoRoom(metaFull,
        ThinCapacity.of(metaFull, List.of(metaFull), policy), policy));
    LogicalVolume both = pool(10 * GIB, "90.00", "99.00");
    assertTrue(ThinCapacity.whyNoRoom(both, ThinCapacity.of(both, List.of(both), policy), policy)
        .matches("its data is 90.00 % full .* and its metadata is 99.00 % full .*"));
    LogicalVolume roomy = pool(10 * GIB, "10.00", "5.00");
    List<LogicalVolume> lvs = List.of(roomy, thin("a", 19 * GIB));
    assertEquals("its volumes already have " + 19 * GIB + " bytes of virtual size, and the "
        + "overcommit limit (2.0 times the pool's size) leaves " + GIB + " bytes",
        ThinCapacity.whyNoRoom(roomy, ThinCapacity.of(roomy, lvs, policy), policy));
  }

  @Test
  void overcommitBoundsTheProvisionedSum() {
    LogicalVolume pool = pool(10 * GIB, "10.00", "5.00");
    List<LogicalVolume> lvs = List.of(pool, thin("a", 8 * GIB), thin("b", 4 * GIB));
    assertEquals(15 * GIB - 12 * GIB,
        ThinCapacity.of(pool, lvs, new CapacityPolicy(1.5, 90, 80)).allocatableBytes());
    assertEquals(0, ThinCapacity.of(pool, lvs, new CapacityPolicy(1.0, 90, 80)).allocatableBytes(),
        "past the overcommit bound: nothing, never negative");
  }

  @Test
  void dataAndMetadataThresholdsStopAllocation() {
    List<LogicalVolume> none = List.of();
    CapacityPolicy policy = new CapacityPolicy(2.0, 90, 80);
    assertEquals(20 * GIB, ThinCapacity.of(pool(10 * GIB, "89.99", "79.99"), none, policy)
        .allocatableBytes());
    assertEquals(0, ThinCapacity.of(pool(10 * GIB, "90.00", "0.00"), none, policy)
        .allocatableBytes());
    assertEquals(0, ThinCapacity.of(pool(10 * GIB, "0.00", "80.00"), none, policy)
        .allocatableBytes());
  }

  @Test
  void inactivePoolReportsNoUsage() {
    LogicalVolume pool = new LogicalVolume("pve", "data", GIB, LvAttr.parse("twi---tz--"),
        Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
        OptionalLong.of(4194304), List.of(), Optional.empty(), OptionalLong.of(4194304));
    PoolStatus status = ThinCapacity.of(pool, List.of(pool), CapacityPolicy.DEFAULT);
    assertFalse(status.active());
    assertEquals(0, status.usedBytes());
    assertEquals(OptionalLong.of(0), status.metadataUsedBytes());
  }

  @Test
  void hugeNumbersDoNotOverflow() {
    LogicalVolume pool = pool(Long.MAX_VALUE / 2, "50.00", "1.00");
    assertEquals(Long.MAX_VALUE,
        ThinCapacity.of(pool, List.of(), new CapacityPolicy(1000, 90, 80)).allocatableBytes());
  }

  static LogicalVolume pool(long size, String dataPercent, String metaPercent) {
    return new LogicalVolume("pve", "data", size, LvAttr.parse("twi-aotz--"), Optional.empty(),
        Optional.empty(), Optional.of(new BigDecimal(dataPercent)),
        Optional.of(new BigDecimal(metaPercent)), OptionalLong.of(GIB), List.of(),
        Optional.of(Instant.EPOCH), OptionalLong.of(4194304));
  }

  static LogicalVolume thin(String name, long size) {
    return new LogicalVolume("pve", name, size, LvAttr.parse("Vwi-a-tz--"), Optional.of("data"),
        Optional.empty(), Optional.of(BigDecimal.ZERO), Optional.empty(), OptionalLong.empty(),
        List.of(), Optional.of(Instant.EPOCH), OptionalLong.of(4194304));
  }
}
