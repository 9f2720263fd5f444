package io.csi.pvestorage.harness;

import static io.csi.pvestorage.harness.LvmThinSmokeIT.ok;
import static io.csi.pvestorage.harness.LvmThinSmokeIT.sha256;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Real OpenZFS in the harness guest: a zvol and a filesystem dataset with refquota under
 * rpool/data are created, listed, written, snapshotted, cloned (the clone read back) and
 * destroyed. This proves the harness; the ZFS storage plugin gets its own ITs.
 */
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.ZPOOL)
class ZfsSmokeIT {

  private static final String DATA = VmHarness.ZFS_DATASET;

  @Test
  void zvolCreateListSnapshotCloneDestroy(GuestCommandRunner guest) {
    String vol = DATA + "/vm-9101-disk-0";
    String clone = DATA + "/vm-9102-disk-0";
    ok(guest, "zfs", "create", "-s", "-V", "64M", "-o", "volblocksize=16k", vol);
    ok(guest, "udevadm", "settle");
    String dev = "/dev/zvol/" + vol;
    ok(guest, "mkfs.ext4", "-q", dev);
    ok(guest, "mkdir", "-p", "/mnt/zvol-origin", "/mnt/zvol-clone");
    ok(guest, "mount", dev, "/mnt/zvol-origin");
    ok(guest, "dd", "if=/dev/urandom", "of=/mnt/zvol-origin/payload", "bs=64k", "count=32", "status=none");
    String originSum = sha256(guest, "/mnt/zvol-origin/payload");
    ok(guest, "umount", "/mnt/zvol-origin");

    ok(guest, "zfs", "snapshot", vol + "@s1");
    ok(guest, "zfs", "clone", vol + "@s1", clone);
    Map<String, List<String>> rows = list(guest);
    assertEquals(List.of("volume", "67108864", "-"), rows.get(vol).subList(1, 4), rows.toString());
    // A zvol's snapshot reports the volsize it was taken at.
    assertEquals(List.of("snapshot", "67108864", "-"), rows.get(vol + "@s1").subList(1, 4), rows.toString());
    assertEquals(List.of("volume", "67108864", vol + "@s1"), rows.get(clone).subList(1, 4), rows.toString());

    ok(guest, "udevadm", "settle");
    ok(guest, "mount", "/dev/zvol/" + clone, "/mnt/zvol-clone");
    assertEquals(originSum, sha256(guest, "/mnt/zvol-clone/payload"), "the clone holds the origin's data");
    ok(guest, "dd", "if=/dev/urandom", "of=/mnt/zvol-clone/payload", "bs=64k", "count=1", "conv=notrunc", "status=none");
    assertNotEquals(originSum, sha256(guest, "/mnt/zvol-clone/payload"));
    ok(guest, "umount", "/mnt/zvol-clone");

    CommandResult busy = guest.run(Command.of(Duration.ofSeconds(30), "zfs", "destroy", vol));
    assertEquals(1, busy.exitCode(), "a snapshot with a clone blocks destroy");
    assertTrue(busy.stderrText().contains("has children"), busy.stderrText());

    ok(guest, "zfs", "destroy", clone);
    ok(guest, "zfs", "destroy", "-r", vol);
    rows = list(guest);
    assertEquals(List.of(DATA), List.copyOf(rows.keySet()), "only the parent is left: " + rows);
  }

  @Test
  void filesystemWithRefquotaSnapshotAndClone(GuestCommandRunner guest) {
    String subvol = DATA + "/subvol-9201-disk-0";
    String clone = DATA + "/subvol-9202-disk-0";
    ok(guest, "zfs", "create", "-o", "refquota=32M", "-o", "acltype=posixacl", subvol);
    ok(guest, "dd", "if=/dev/urandom", "of=/" + subvol + "/payload", "bs=64k", "count=16", "status=none");
    String sum = sha256(guest, "/" + subvol + "/payload");
    // Random data: rpool has lz4 compression on, zeros would take no space at all.
    CommandResult full = guest.run(Command.of(Duration.ofSeconds(60),
        "dd", "if=/dev/urandom", "of=/" + subvol + "/filler", "bs=1M", "count=64", "status=none"));
    assertNotEquals(0, full.exitCode(), "refquota stops the writer");
    assertTrue(full.stderrText().contains("Disk quota exceeded"), full.stderrText());
    ok(guest, "rm", "/" + subvol + "/filler");

    ok(guest, "zfs", "snapshot", subvol + "@s1");
    ok(guest, "zfs", "clone", "-o", "refquota=32M", subvol + "@s1", clone);
    Map<String, List<String>> rows = list(guest);
    assertEquals(List.of("filesystem", "-", subvol + "@s1"),
        rows.get(clone).subList(1, 4), rows.toString());
    assertEquals("33554432", rows.get(subvol).get(4), "refquota in bytes: " + rows);
    assertEquals(sum, sha256(guest, "/" + clone + "/payload"), "the clone holds the data");

    ok(guest, "zfs", "destroy", clone);
    ok(guest, "zfs", "destroy", "-r", subvol);
    assertEquals(List.of(DATA), List.copyOf(list(guest).keySet()));
  }

  /** zfs list -H -p rows under rpool/data, by name: name, type, volsize, origin, refquota. */
  private static Map<String, List<String>> list(GuestCommandRunner guest) {
    String out = ok(guest, "zfs", "list", "-H", "-p", "-o", "name,type,volsize,origin,refquota",
        "-t", "filesystem,volume,snapshot", "-r", DATA).stdoutText();
    return out.lines()
        .map(line -> Arrays.asList(line.split("\t")))
        .collect(Collectors.toMap(f -> f.get(0), Function.identity(), (a, b) -> a,
            java.util.LinkedHashMap::new));
  }
}
