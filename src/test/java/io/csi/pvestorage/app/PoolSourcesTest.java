package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.fixtures.Fixture;
import io.csi.pvestorage.lock.FakeClock;
import io.csi.pvestorage.lock.ManualScheduler;
import io.csi.pvestorage.metrics.PoolMetrics;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.lvmthin.LvmCommands;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The real plugins, on a scripted runner replaying recorded lvm and zfs output, feeding the
 * pool gauges: one inventory per storage per interval, and labels that never name a volume.
 */
class PoolSourcesTest {

  private static final Duration INTERVAL = Duration.ofSeconds(30);
  private static final List<String> ZPOOL_HEALTH =
      List.of("zpool", "list", "-H", "-o", "health", "rpool");

  private final FakeCommandRunner lvm = new FakeCommandRunner();
  private final FakeCommandRunner zfs = new FakeCommandRunner();
  private final StoragePlugin thin = new LvmThinPlugin(new LvmThinStorage("local-lvm", "pve",
      "data", new CommonOptions(Set.of(), false, Set.of("images"), 0, CapacityPolicy.DEFAULT)),
      lvm);
  private final StoragePlugin zpool = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs",
      "rpool/data", OptionalLong.empty(), true, Optional.empty(),
      new CommonOptions(Set.of(), false, Set.of("images"), 0, CapacityPolicy.DEFAULT)), zfs);

  @AfterEach
  void everyScriptedCommandRan() {
    lvm.verifyAllConsumed();
    zfs.verifyAllConsumed();
  }

  private static void replay(FakeCommandRunner runner, Fixture f) {
    runner.expect(f.argv()).thenExit(f.exitCode(), f.stdoutText(), f.stderrText());
  }

  @Test
  void recordedPoolsBecomeGaugesWithBoundedLabels() {
    Fixture lvs = Fixture.load("lvm", "2.03.16", "plugin-lvs-volumes");
    Fixture zfsList = Fixture.load("zfs", "2.1.11", "zfs-plugin-list-snapshots");
    replay(lvm, lvs);
    replay(zfs, zfsList);
    zfs.expect(ZPOOL_HEALTH).thenSucceed("ONLINE\n");
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    FakeClock clock = new FakeClock(Instant.parse("2026-01-01T00:00:00Z"));
    ManualScheduler scheduler = new ManualScheduler(clock);
    try (PoolMetrics metrics = PoolMetrics.start(registry, PoolSources.of(List.of(thin, zpool)),
        INTERVAL, scheduler, clock)) {
      scheduler.runDue();
      assertEquals(1, lvm.commands().size(), "one lvs per read");
      assertEquals(2, zfs.commands().size(), "zfs list and zpool list per read");
      String text = registry.scrape();
      assertEquals(1, lvm.commands().size(), "a scrape runs nothing");

      assertTrue(text.contains(
          "pve_csi_pool_volumes{backend=\"lvmthin\",storage=\"local-lvm\"} 6.0\n"), text);
      assertTrue(text.contains(
          "pve_csi_pool_snapshots{backend=\"lvmthin\",storage=\"local-lvm\"} 1.0\n"), text);
      assertTrue(text.contains(
          "pve_csi_pool_size_bytes{backend=\"lvmthin\",storage=\"local-lvm\"} 4.294967296E9\n"),
          text);
      assertTrue(text.contains(
          "pve_csi_pool_metadata_used_bytes{backend=\"lvmthin\",storage=\"local-lvm\"} 487378.0\n"),
          text);
      assertTrue(text.contains(
          "pve_csi_pool_volumes{backend=\"zfspool\",storage=\"local-zfs\"} 8.0\n"), text);
      assertTrue(text.contains(
          "pve_csi_pool_snapshots{backend=\"zfspool\",storage=\"local-zfs\"} 3.0\n"), text);
      assertTrue(text.contains("pve_csi_pool_health{backend=\"zfspool\",state=\"ONLINE\","
          + "storage=\"local-zfs\"} 1.0\n"), text);

      // The recorded pools are full of volume, snapshot and claim names: none is a label.
      Set<String> labelNames = new HashSet<>();
      Set<String> storages = new HashSet<>();
      Matcher label = Pattern.compile("(\\w+)=\"([^\"]*)\"").matcher("");
      for (String line : text.split("\n")) {
        if (line.startsWith("pve_csi_pool_")) {
          label.reset(line);
          while (label.find()) {
            labelNames.add(label.group(1));
            if (label.group(1).equals("storage")) {
              storages.add(label.group(2));
            }
          }
        }
      }
      assertEquals(Set.of("storage", "backend", "state"), labelNames);
      assertEquals(Set.of("local-lvm", "local-zfs"), storages);
      for (String name : List.of("vm-400-disk-0", "pvc-0b7e2c1a", "team-a", "vm-0-pvc-1",
          "snap-a", "before-upgrade")) {
        assertTrue(!text.contains(name), name + " leaked into\n" + text);
      }
    }
  }

  @Test
  void aFailedReadCarriesTheToolsStderr() {
    Fixture missing = Fixture.load("lvm", "2.03.16", "plugin-lvs-missing-vg");
    lvm.expect(LvmCommands.lvs("pve").argv())
        .thenExit(missing.exitCode(), missing.stdoutText(), missing.stderrText());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> PoolSources.read(thin));
    assertTrue(e.getMessage().contains(missing.stderrText().strip()), e.getMessage());
  }
}
