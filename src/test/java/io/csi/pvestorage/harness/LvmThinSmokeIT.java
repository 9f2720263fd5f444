package io.csi.pvestorage.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Real LVM-thin in the harness guest: a thin volume in pve/data is created, listed, written
 * through ext4, snapshotted, cloned from the snapshot (read back in the clone) and deleted.
 * This proves the harness; the LVM-thin storage plugin gets its own ITs.
 */
@ExtendWith(VmHarnessExtension.class)
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ)
@ResourceLock(GuestResources.THIN_POOL)
class LvmThinSmokeIT {

  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  private static final String VG = VmHarness.VG;

  @Test
  void createListSnapshotCloneDelete(GuestCommandRunner guest) {
    String vol = "vm-9001-disk-0";
    String snap = "snap_vm-9001-disk-0_s1";
    String clone = "vm-9002-disk-0";
    ok(guest, "lvcreate", "-y", "-V", "64M", "-T", VG + "/" + VmHarness.THIN_POOL, "-n", vol,
        "--addtag", "pvc=ns1.claim-a");

    String listed = lvs(guest).stdoutText();
    String volRow = row(listed, vol);
    assertTrue(volRow.contains("\"lv_size\":\"67108864\""), volRow);
    assertTrue(volRow.contains("\"pool_lv\":\"data\""), volRow);
    assertTrue(volRow.contains("\"lv_tags\":\"pvc=ns1.claim-a\""), volRow);

    String dev = "/dev/" + VG + "/" + vol;
    ok(guest, "mkfs.ext4", "-q", dev);
    ok(guest, "mkdir", "-p", "/mnt/lvm-origin", "/mnt/lvm-clone");
    ok(guest, "mount", dev, "/mnt/lvm-origin");
    ok(guest, "dd", "if=/dev/urandom", "of=/mnt/lvm-origin/payload", "bs=64k", "count=32", "status=none");
    String originSum = sha256(guest, "/mnt/lvm-origin/payload");
    ok(guest, "umount", "/mnt/lvm-origin");

    ok(guest, "lvcreate", "-y", "-s", VG + "/" + vol, "-n", snap);
    ok(guest, "lvcreate", "-y", "-s", VG + "/" + snap, "-n", clone, "-k", "n");
    listed = lvs(guest).stdoutText();
    assertTrue(row(listed, snap).contains("\"origin\":\"" + vol + "\""), listed);
    assertTrue(row(listed, clone).contains("\"origin\":\"" + snap + "\""), listed);
    assertTrue(row(listed, snap).contains("\"lv_attr\":\"Vwi---tz-k\""), "a thin snapshot skips activation: " + listed);

    ok(guest, "lvchange", "-ay", VG + "/" + clone);
    ok(guest, "mount", "/dev/" + VG + "/" + clone, "/mnt/lvm-clone");
    assertEquals(originSum, sha256(guest, "/mnt/lvm-clone/payload"), "the clone holds the origin's data");
    ok(guest, "dd", "if=/dev/urandom", "of=/mnt/lvm-clone/payload", "bs=64k", "count=1", "conv=notrunc", "status=none");
    assertNotEquals(originSum, sha256(guest, "/mnt/lvm-clone/payload"), "the clone is writable");
    ok(guest, "umount", "/mnt/lvm-clone");

    ok(guest, "lvremove", "-y", VG + "/" + clone, VG + "/" + snap, VG + "/" + vol);
    listed = lvs(guest).stdoutText();
    for (String lv : List.of(vol, snap, clone)) {
      assertTrue(!listed.contains("\"lv_name\":\"" + lv + "\""), lv + " is gone: " + listed);
    }
    assertTrue(listed.contains("\"lv_name\":\"data\""), "the pool stays: " + listed);
  }

  @Test
  void missingVolumeIsReportedByLvm(GuestCommandRunner guest) {
    CommandResult result = guest.run(Command.of(TIMEOUT, "lvs", VG + "/no-such-volume"));
    assertEquals(5, result.exitCode(), result.stderrText());
    assertTrue(result.stderrText().contains("Failed to find logical volume \"pve/no-such-volume\""),
        result.stderrText());
    assertEquals("", result.stdoutText());
  }

  static CommandResult lvs(GuestCommandRunner guest) {
    return ok(guest, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
        "-o", "lv_name,lv_size,lv_attr,pool_lv,origin,lv_tags", VG);
  }

  /** The JSON object of one LV in lvs' report (one object per line in LVM's output). */
  static String row(String lvsJson, String lvName) {
    Matcher m = Pattern.compile("\\{\"lv_name\":\"" + Pattern.quote(lvName) + "\"[^}]*}").matcher(lvsJson);
    assertTrue(m.find(), lvName + " not in " + lvsJson);
    return m.group();
  }

  static String sha256(GuestCommandRunner guest, String file) {
    return ok(guest, "sha256sum", file).stdoutText().split(" ")[0];
  }

  static CommandResult ok(GuestCommandRunner guest, String... argv) {
    CommandResult result = guest.run(Command.of(TIMEOUT, argv));
    assertEquals(0, result.exitCode(), () -> String.join(" ", argv) + " failed: " + result.stderrText());
    return result;
  }
}
