package io.csi.pvestorage.lock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LeaseNamesTest {

  private static void assertDnsLabel(String name) {
    assertTrue(name.length() <= 63, name + " is longer than 63");
    assertTrue(name.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?"), name + " is no DNS-1123 label");
  }

  @Test
  void aPlainNameIsReadableAndHashed() {
    String name = LeaseNames.leaseName("node1", "local-thin");
    assertTrue(name.startsWith("pve-storage-node1-local-thin-"), name);
    assertDnsLabel(name);
    assertEquals(name, LeaseNames.leaseName("node1", "local-thin"), "deterministic");
  }

  @Test
  void charactersALabelCannotHoldAreReplaced() {
    String name = LeaseNames.leaseName("Node_1.example", "Tank.Data_1");
    assertDnsLabel(name);
    assertTrue(name.startsWith("pve-storage-node-1-example-tank-data-1-"), name);
  }

  @Test
  void longNamesAreCutAndStayDistinct() {
    String node = "n".repeat(200);
    String a = LeaseNames.leaseName(node, "storage-a");
    String b = LeaseNames.leaseName(node, "storage-b");
    assertDnsLabel(a);
    assertDnsLabel(b);
    assertNotEquals(a, b);
  }

  @Test
  void hyphensDoNotMakeTwoStoragesShareALease() {
    assertNotEquals(LeaseNames.leaseName("n1-a", "b"), LeaseNames.leaseName("n1", "a-b"));
  }

  @Test
  void settingsRejectWhatCannotWork() {
    Duration s15 = Duration.ofSeconds(15);
    Duration s5 = Duration.ofSeconds(5);
    Duration ms = Duration.ofMillis(10);
    assertThrows(IllegalArgumentException.class, () -> new LeaseLockSettings("Bad_NS", "n", "h", s15, s5, s5, ms, ms, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new LeaseLockSettings("ns", " ", "h", s15, s5, s5, ms, ms, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new LeaseLockSettings("ns", "n", "", s15, s5, s5, ms, ms, Duration.ZERO));
    assertThrows(
        IllegalArgumentException.class,
        () -> new LeaseLockSettings("ns", "n", "h", Duration.ofMillis(15500), s5, s5, ms, ms, Duration.ZERO),
        "fractional seconds");
    assertThrows(
        IllegalArgumentException.class,
        () -> new LeaseLockSettings("ns", "n", "h", s15, Duration.ofSeconds(8), s5, ms, ms, Duration.ZERO),
        "renewal slower than half the duration");
    assertThrows(IllegalArgumentException.class, () -> new LeaseLockSettings("ns", "n", "h", s15, s5, Duration.ZERO, ms, ms, Duration.ZERO));
    assertThrows(
        IllegalArgumentException.class,
        () -> new LeaseLockSettings("ns", "n", "h", s15, s5, s5, Duration.ofMillis(20), ms, Duration.ZERO),
        "min above max");
    assertThrows(
        IllegalArgumentException.class,
        () -> new LeaseLockSettings("ns", "n", "h", s15, s5, s5, ms, ms, Duration.ofMillis(-1)),
        "negative linger");
    assertThrows(
        IllegalArgumentException.class,
        () -> new LeaseLockSettings("ns", "n", "h", s15, s5, s5, ms, ms, s5),
        "a linger as long as the batch bound would hold the Lease for good");
    LeaseLockSettings defaults = LeaseLockSettings.defaults("kube-system", "node1", "pod_1");
    assertEquals(s15, defaults.leaseDuration());
    assertEquals(Duration.ofSeconds(1), defaults.linger());
  }

  @Test
  void holderIdentityIsPodNamePlusAPerProcessId() {
    String a = LeaseLockSettings.holderIdentity("pve-storage-csi-node-x7k2p", new SplittableRandom(1));
    String b = LeaseLockSettings.holderIdentity("pve-storage-csi-node-x7k2p", new SplittableRandom(2));
    assertTrue(a.matches("pve-storage-csi-node-x7k2p_[0-9a-f]{8}"), a);
    assertNotEquals(a, b);
  }

  @Test
  void operationsDescribeThemselvesOnOneLine() {
    Operation op = new Operation("alloc", "vm-100-disk-1", java.time.Instant.parse("2026-11-24T18:00:00Z"));
    assertEquals("alloc vm-100-disk-1 since 2026-11-24T18:00:00Z", op.describe());
    assertThrows(IllegalArgumentException.class, () -> new Operation("Alloc!", "", java.time.Instant.EPOCH));
    assertThrows(IllegalArgumentException.class, () -> new Operation("alloc", "a\nb", java.time.Instant.EPOCH));
  }
}
