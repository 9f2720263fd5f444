package io.csi.pvestorage.app;

import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.harness.VmHarness;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The main job, printed for a person: boots the real-storage VM, runs the driver's {@code serve}
 * in the guest (all services, the Kubernetes Lease lock against a mock API server on the host),
 * and drives it with the {@code client} command exactly as an operator would, on LVM-thin
 * (ext4), a ZFS zvol (xfs) and a ZFS dataset: create, stage, publish, write data, stats,
 * snapshot, restore to a larger volume and read the same data back, a golden image and its
 * linked clone (the base deleted first, the clone reads the same data), expand, unpublish,
 * unstage, delete; then shows the driver's own metrics. Exits non-zero at the first step that
 * fails.
 */
public final class DriverWalkthrough {

  private static final Pattern VOLUME_ID = Pattern.compile("volume_id: \"([^\"]+)\"");
  private static final Pattern SNAPSHOT_ID = Pattern.compile("snapshot_id: \"([^\"]+)\"");
  private static final Pattern CAPACITY = Pattern.compile("capacity_bytes: (\\d+)");

  private record Backend(String storage, String fsType, String what) {}

  private final GuestDriver driver;
  private final String endpoint;

  private DriverWalkthrough(GuestDriver driver) {
    this.driver = driver;
    this.endpoint = "tcp://127.0.0.1:" + driver.hostPort();
  }

  public static void main(String[] args) throws Exception {
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults());
         GuestDriver driver = GuestDriver.start(vm, 10000, GuestDriver.LockMode.LEASE)) {
      DriverWalkthrough walk = new DriverWalkthrough(driver);
      walk.client("info");
      walk.client("node-info");
      for (Backend b : List.of(
          new Backend(GuestDriver.LVM_STORAGE, "ext4", "LVM-thin, ext4"),
          new Backend(GuestDriver.ZFS_STORAGE, "xfs", "ZFS zvol, xfs"),
          new Backend(GuestDriver.ZFS_STORAGE, "zfs", "ZFS dataset"))) {
        walk.lifecycle(b);
      }
      walk.metrics();
      System.out.println("\nwalkthrough: every step succeeded on real storage");
    }
  }

  private void lifecycle(Backend b) {
    System.out.printf("%n=== %s (storage %s) ===%n", b.what(), b.storage());
    String name = "demo-" + b.fsType();
    String dir = driver.workDir() + "/" + name;
    String staging = dir + "/staging";
    String target = dir + "/target";
    String restoreStaging = dir + "/restore-staging";
    String restoreTarget = dir + "/restore-target";
    guest("mkdir", "-p", staging, restoreStaging);

    client("capacity", "--storage", b.storage(), "--fs-type", b.fsType());
    String volume = find(VOLUME_ID, client("create-volume", name, "--size", "256Mi",
        "--storage", b.storage(), "--fs-type", b.fsType()));
    client("create-volume", name, "--size", "256Mi", "--storage", b.storage(),
        "--fs-type", b.fsType());
    System.out.println("    (the same request again returns the same volume)");
    client("stage", volume, "--staging-path", staging, "--fs-type", b.fsType());
    client("publish", volume, "--staging-path", staging, "--target-path", target,
        "--fs-type", b.fsType());
    guest("dd", "if=/dev/urandom", "of=" + target + "/data", "bs=1M", "count=16",
        "status=none");
    guest("sync");
    String sum = guest("sha256sum", target + "/data").stdoutText().split(" ")[0];
    client("stats", volume, "--volume-path", target);

    String snapshot = find(SNAPSHOT_ID, client("create-snapshot", name + "-snap",
        "--source", volume));
    client("list-snapshots", "--source", volume);
    String restored = find(VOLUME_ID, client("create-volume", name + "-restored",
        "--size", "512Mi", "--storage", b.storage(), "--fs-type", b.fsType(),
        "--from-snapshot", snapshot));
    client("stage", restored, "--staging-path", restoreStaging, "--fs-type", b.fsType());
    client("publish", restored, "--staging-path", restoreStaging, "--target-path",
        restoreTarget, "--fs-type", b.fsType());
    String restoredSum = guest("sha256sum", restoreTarget + "/data").stdoutText().split(" ")[0];
    check(sum.equals(restoredSum), "the restore holds the same data (sha256 " + sum + ")");
    String stats = client("stats", restored, "--volume-path", restoreTarget);
    check(!stats.isEmpty(), "stats of the restored volume");

    // A golden image (the VolumeSnapshotClass parameter base: "true"): a PVE base of what the
    // volume holds now, and a linked clone of it. The base may go first; the clone keeps it.
    String golden = find(SNAPSHOT_ID, client("create-snapshot", name + "-golden",
        "--source", volume, "--param", "base=true"));
    String linked = find(VOLUME_ID, client("create-volume", name + "-linked", "--size", "256Mi",
        "--storage", b.storage(), "--fs-type", b.fsType(), "--from-snapshot", golden));
    client("delete-snapshot", golden);
    System.out.println("    (the base is deleted first: it stays, hidden, while a clone needs it)");
    String linkedStaging = dir + "/linked-staging";
    String linkedTarget = dir + "/linked-target";
    guest("mkdir", "-p", linkedStaging);
    client("stage", linked, "--staging-path", linkedStaging, "--fs-type", b.fsType());
    client("publish", linked, "--staging-path", linkedStaging, "--target-path", linkedTarget,
        "--fs-type", b.fsType());
    String linkedSum = guest("sha256sum", linkedTarget + "/data").stdoutText().split(" ")[0];
    check(sum.equals(linkedSum), "the linked clone of the golden image holds the same data");
    client("unpublish", linked, "--target-path", linkedTarget);
    client("unstage", linked, "--staging-path", linkedStaging);
    client("delete-volume", linked);

    String grown = client("expand", volume, "--size", "512Mi", "--volume-path", target,
        "--staging-path", staging, "--fs-type", b.fsType());
    check(grown.contains("capacity_bytes: " + (512L << 20)), "the volume grew to 512 MiB");
    client("stats", volume, "--volume-path", target);

    client("list-volumes");
    for (String[] v : List.of(new String[] {restored, restoreTarget, restoreStaging},
        new String[] {volume, target, staging})) {
      client("unpublish", v[0], "--target-path", v[1]);
      client("unstage", v[0], "--staging-path", v[2]);
    }
    client("delete-snapshot", snapshot);
    client("delete-volume", restored);
    client("delete-volume", volume);
    client("delete-volume", volume);
    System.out.println("    (deleting what is gone succeeds)");
    String left = client("list-volumes");
    check(!left.contains(volume) && !left.contains(restored) && !left.contains(linked),
        "nothing of " + name + " is left");
    String snapshotsLeft = client("list-snapshots");
    check(!snapshotsLeft.contains(snapshot) && !snapshotsLeft.contains(golden),
        "no snapshot or golden image of " + name + " is left");
  }

  /** The driver's /metrics, read inside the guest; prints the meters of the work just done. */
  private void metrics() {
    System.out.printf("%n=== the driver's metrics (GET /metrics in the guest) ===%n");
    String text = driver.scrapeMetrics();
    List<String> shown = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.startsWith("pve_csi_rpc_duration_seconds_count")
          || line.startsWith("pve_csi_storage_command_duration_seconds_count")
          || line.startsWith("pve_csi_lock_") && !line.contains("_bucket{")
          || line.startsWith("pve_csi_pool_") && !line.startsWith("pve_csi_pool_health")) {
        shown.add(line);
      }
    }
    shown.forEach(l -> System.out.println("    " + l));
    check(shown.stream().anyMatch(l -> l.contains("method=\"CreateVolume\"")),
        "CreateVolume calls are counted");
    check(shown.stream().anyMatch(l -> l.startsWith("pve_csi_lock_hold_seconds_count")),
        "lock hold times are measured");
  }

  /** Runs one {@code client} command against the driver, printed like a shell session. */
  private String client(String... args) {
    List<String> argv = new ArrayList<>(List.of("client", "--endpoint", endpoint));
    argv.addAll(List.of(args));
    System.out.println("\n$ pve-storage-csi " + String.join(" ", argv));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Main.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    String text = out.toString(StandardCharsets.UTF_8);
    System.out.print(indent(text));
    if (status != 0) {
      throw new IllegalStateException("client " + args[0] + " exited " + status + ": "
          + err.toString(StandardCharsets.UTF_8) + "\n--- driver log ---\n" + driver.log());
    }
    return text;
  }

  private CommandResult guest(String... argv) {
    System.out.println("\n# in the guest: " + String.join(" ", argv));
    CommandResult result = driver.must(argv);
    System.out.print(indent(result.stdoutText()));
    return result;
  }

  private static String find(Pattern pattern, String text) {
    Matcher m = pattern.matcher(text);
    if (!m.find()) {
      throw new IllegalStateException("no " + pattern + " in:\n" + text);
    }
    return m.group(1);
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalStateException("check failed: " + what);
    }
    System.out.println("    ok: " + what);
  }

  private static String indent(String text) {
    return text.isEmpty() ? "" : text.strip().indent(4);
  }
}
