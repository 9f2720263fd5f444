package io.csi.pvestorage.harness;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import io.csi.pvestorage.storage.lvmthin.LvmThinPlugin;
import io.csi.pvestorage.storage.zfspool.ZfsPoolPlugin;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The plugin API on real storage, step by step, printed for a person: boots the harness guest,
 * then for each backend allocates a volume with CSI metadata, writes data through a filesystem,
 * snapshots it, clones the snapshot and reads the data back in the clone, grows the volume,
 * and deletes everything again. Run by {@code src/test/vm/smoke} and the demo; exits non-zero
 * at the first step that fails.
 */
public final class PluginSmoke {

  private static final Duration TIMEOUT = Duration.ofMinutes(2);
  private static final long OWNER = 4711;
  private static final long MIB = 1L << 20;

  private final GuestCommandRunner guest;

  private PluginSmoke(GuestCommandRunner guest) {
    this.guest = guest;
  }

  public static void main(String[] args) {
    try (VmHarness vm = VmHarness.start(VmHarness.Config.defaults())) {
      PluginSmoke smoke = new PluginSmoke(vm.runner());
      for (StoragePlugin plugin : plugins(vm)) {
        smoke.walk(plugin);
      }
      System.out.println("\nsmoke: every step succeeded on real storage");
    }
  }

  /** The backends to walk through, configured like a Proxmox host's storage.cfg. */
  static List<StoragePlugin> plugins(VmHarness vm) {
    CommonOptions common = new CommonOptions(Set.of(), false, Set.of("images", "rootdir"), OWNER,
        CapacityPolicy.DEFAULT);
    List<StoragePlugin> plugins = new ArrayList<>();
    plugins.add(new LvmThinPlugin(
        new LvmThinStorage("local-lvm", VmHarness.VG, VmHarness.THIN_POOL, common), vm.runner()));
    plugins.add(new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", VmHarness.ZFS_DATASET,
        OptionalLong.empty(), true, Optional.empty(), common), vm.runner()));
    return plugins;
  }

  private void walk(StoragePlugin p) {
    System.out.printf("%n=== %s storage '%s' ===%n", p.type(), p.storeId());
    PoolStatus before = step("status", p::status);
    System.out.printf("    pool %d MiB, used %d MiB, allocatable %d MiB%n",
        before.totalBytes() / MIB, before.usedBytes() / MIB, before.allocatableBytes() / MIB);

    VolumeMetadata meta = new VolumeMetadata("pvc-smoke-1", Optional.of("demo"),
        Optional.of("data"), Optional.of("pvc-smoke-1"));
    String volname = step("allocImage 64 MiB, named after the CSI request",
        () -> p.allocImage(OWNER, ImageFormat.RAW, Optional.of("vm-" + OWNER + "-pvc-smoke-1"),
            64 * MIB, Optional.of(meta)));
    System.out.println("    -> " + volname);
    String auto = step("allocImage without a name (PVE's next free disk name)",
        () -> p.allocImage(OWNER, ImageFormat.RAW, Optional.empty(), 32 * MIB, Optional.empty()));
    System.out.println("    -> " + auto);

    List<ImageInfo> images = step("listImages of owner " + OWNER,
        () -> p.listImages(OptionalLong.of(OWNER), Optional.empty()));
    images.forEach(i -> System.out.printf("    %s %s %d MiB csi-name=%s%n", i.volid(),
        i.format().pveName(), i.sizeBytes() / MIB,
        i.metadata().map(VolumeMetadata::csiName).orElse("-")));

    step("activate, mkfs.ext4, mount and write a file", () -> {
      p.activateVolume(volname, Optional.empty());
      String dev = p.path(volname, Optional.empty()).toString();
      run("mkfs.ext4", "-q", dev);
      run("mkdir", "-p", "/mnt/smoke");
      run("mount", dev, "/mnt/smoke");
      run("dd", "if=/dev/urandom", "of=/mnt/smoke/data", "bs=1M", "count=4", "status=none");
      String sum = run("sha256sum", "/mnt/smoke/data").split(" ")[0];
      run("umount", "/mnt/smoke");
      System.out.println("    sha256 " + sum);
      return sum;
    });
    step("volumeSnapshot 'before'",
        () -> {
          p.volumeSnapshot(volname, "before", Optional.of(VolumeMetadata.of("snapshot-smoke-1")));
          return null;
        });
    List<SnapshotInfo> snaps = step("listSnapshots", () -> p.listSnapshots(Optional.of(volname)));
    snaps.forEach(s -> System.out.printf("    %s %d MiB%n", s.id(), s.sizeBytes() / MIB));

    String clone = step("cloneImage from the snapshot", () -> p.cloneImage(volname, OWNER,
        Optional.of("before"), Optional.of("vm-" + OWNER + "-pvc-smoke-restore"),
        Optional.of(VolumeMetadata.of("pvc-smoke-restore"))));
    System.out.println("    -> " + clone);
    step("read the data back in the clone", () -> {
      p.activateVolume(clone, Optional.empty());
      run("mount", "-o", "ro", p.path(clone, Optional.empty()).toString(), "/mnt/smoke");
      String sum = run("sha256sum", "/mnt/smoke/data").split(" ")[0];
      run("umount", "/mnt/smoke");
      System.out.println("    sha256 " + sum);
      return sum;
    });

    long grown = step("volumeResize to 128 MiB", () -> p.volumeResize(volname, 128 * MIB));
    System.out.printf("    -> %d MiB%n", grown / MIB);

    for (String name : List.of(clone, auto, volname)) {
      step("freeImage " + name, () -> {
        p.freeImage(name);
        return null;
      });
    }
    PoolStatus after = step("status", p::status);
    System.out.printf("    provisioned %d MiB -> %d MiB%n", before.provisionedBytes() / MIB,
        after.provisionedBytes() / MIB);
  }

  private String run(String... argv) {
    CommandResult r = guest.run(Command.of(TIMEOUT, argv));
    if (!r.succeeded()) {
      throw new IllegalStateException(String.join(" ", argv) + " failed with exit "
          + r.exitCode() + ": " + r.stderrText().strip());
    }
    return r.stdoutText().strip();
  }

  private static <T> T step(String what, Supplier<T> action) {
    System.out.println("--> " + what);
    long start = System.nanoTime();
    T result = action.get();
    System.out.printf("    ok in %d ms%n", (System.nanoTime() - start) / 1_000_000);
    return result;
  }
}
