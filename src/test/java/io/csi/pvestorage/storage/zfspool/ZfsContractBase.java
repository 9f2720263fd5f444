package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.harness.GuestCommandRunner;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.StoragePluginContract;
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.StorageDefinition.CommonOptions;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;

/**
 * {@link StoragePluginContract} on the harness's real {@code rpool/data}: the same cases as
 * LVM-thin, for zvols ({@link ZfsZvolContractIT}) and datasets ({@link ZfsDatasetContractIT}).
 * A sparse storage with 16 KiB volblocksize, as PVE's default {@code local-zfs}.
 *
 * <p>Deliberate differences:
 *
 * <ul>
 *   <li>for datasets, {@link #writeData} leaves the dataset mounted (ZFS mounts it at
 *       creation; nothing to format), where the contract says "unmounted" for block volumes;
 *   <li>{@link PoolStatus#totalBytes()} is {@code used + available} of {@code rpool/data}, as in
 *       PVE, and moves by a few blocks per created dataset: the pool's own metadata (MOS) for
 *       it lowers {@code available} without being part of {@code used} (measured: 12288 bytes
 *       for a dataset on ashift 12). {@link #totalBytesDrift()} allows 1 MiB.
 * </ul>
 */
abstract class ZfsContractBase extends StoragePluginContract {

  private GuestCommandRunner guest;
  private ZfsPoolPlugin plugin;

  @BeforeEach
  void connect(GuestCommandRunner guest) {
    this.guest = guest;
    this.plugin = new ZfsPoolPlugin(new ZfsPoolStorage("local-zfs", VmHarness.ZFS_DATASET,
        OptionalLong.of(16384), true, Optional.empty(), new CommonOptions(Set.of(), false,
            Set.of("images", "rootdir"), 0, CapacityPolicy.DEFAULT)), guest);
  }

  @Override
  protected StoragePlugin plugin() {
    return plugin;
  }

  @Override
  protected CommandRunner guest() {
    return guest;
  }

  @Override
  protected long totalBytesDrift() {
    return MIB;
  }

  @Override
  protected void writeData(String volname, String content) {
    plugin.activateVolume(volname, Optional.empty());
    String path = plugin.path(volname, Optional.empty()).toString();
    if (format() == ImageFormat.SUBVOL) {
      write(path + "/payload", content);
      return;
    }
    CommandResult probe = guest.run(Command.of(TIMEOUT, "blkid", "-p", "-s", "TYPE", "-o",
        "value", path));
    if (probe.exitCode() != 0) {
      ok("mkfs.ext4", "-q", path);
    }
    String mnt = mountPoint(volname);
    ok("mkdir", "-p", mnt);
    ok("mount", path, mnt);
    try {
      write(mnt + "/payload", content);
    } finally {
      ok("umount", mnt);
    }
  }

  @Override
  protected String readData(String volname) {
    plugin.activateVolume(volname, Optional.empty());
    String path = plugin.path(volname, Optional.empty()).toString();
    if (format() == ImageFormat.SUBVOL) {
      return ok("cat", path + "/payload").stdoutText();
    }
    String mnt = mountPoint(volname);
    ok("mkdir", "-p", mnt);
    ok("mount", "-o", "ro", path, mnt);
    try {
      return ok("cat", mnt + "/payload").stdoutText();
    } finally {
      ok("umount", mnt);
    }
  }

  private void write(String file, String content) {
    ok("python3", "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", file, content);
    ok("sync");
  }

  private static String mountPoint(String volname) {
    return "/mnt/contract-" + volname.replace('/', '_');
  }
}
