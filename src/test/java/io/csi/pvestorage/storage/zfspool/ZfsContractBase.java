package io.csi.pvestorage.storage.zfspool;

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
import java.util.List;
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

  /** Every dataset, zvol and snapshot below the pool dataset, read with zfs list itself. */
  @Override
  protected List<String> poolObjects() {
    return ok("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", VmHarness.ZFS_DATASET)
        .stdoutText().lines().filter(l -> !l.isEmpty()).sorted().toList();
  }

  /** A dataset holds data when it holds any file; a zvol when it has a signature. */
  @Override
  protected boolean holdsData(String volname) {
    if (format() != ImageFormat.SUBVOL) {
      return super.holdsData(volname);
    }
    plugin.activateVolume(volname, Optional.empty());
    return !ok("ls", "-A", plugin.path(volname, Optional.empty()).toString()).stdoutText()
        .isBlank();
  }

  @Override
  protected Optional<String> healthyPool() {
    return Optional.of("ONLINE");
  }

  @Override
  protected long totalBytesDrift() {
    return MIB;
  }

  /** Datasets are written in their mount point; zvols like every block device. */
  @Override
  protected void writeData(String volname, String content) {
    if (format() != ImageFormat.SUBVOL) {
      super.writeData(volname, content);
      return;
    }
    plugin.activateVolume(volname, Optional.empty());
    writeFile(plugin.path(volname, Optional.empty()) + "/payload", content);
  }

  @Override
  protected String readData(String volname) {
    if (format() != ImageFormat.SUBVOL) {
      return super.readData(volname);
    }
    plugin.activateVolume(volname, Optional.empty());
    return ok("cat", plugin.path(volname, Optional.empty()) + "/payload").stdoutText();
  }
}
