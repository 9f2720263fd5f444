package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SizeInfo;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.Volname;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeId;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A storage plugin for Node service tests: the node-side methods (parse, path, activate,
 * sizes, status, resize, the listing of given volumes) behave like the real ones in shape,
 * record each call that changes something, and run no command; the controller-side methods are
 * not used by the Node service and fail if called. Raw volumes live at {@code /dev/pve/<name>},
 * datasets at {@code /rpool/data/<name>}. A volume in {@link #foreign} exists without this
 * driver's ownership, as a Proxmox guest disk would.
 */
final class FakeNodePlugin implements StoragePlugin {

  private static final Pattern NAME = Pattern.compile("(vm|subvol)-(\\d+)-[a-z0-9-]+");

  private final String storeId;
  private final String type;
  final List<String> calls = new ArrayList<>();
  final Map<String, Long> sizes = new HashMap<>();
  final Set<String> foreign = new HashSet<>();
  PoolStatus status = new PoolStatus(10L << 30, 1L << 30, 9L << 30, 4L << 30,
      OptionalLong.empty(), OptionalLong.empty(), 9L << 30, true);

  FakeNodePlugin(String storeId, String type) {
    this.storeId = storeId;
    this.type = type;
  }

  @Override
  public long defaultOwner() {
    return 0;
  }

  @Override
  public String storeId() {
    return storeId;
  }

  @Override
  public String type() {
    return type;
  }

  @Override
  public List<ImageFormat> formats() {
    return type.equals("zfspool") ? List.of(ImageFormat.RAW, ImageFormat.SUBVOL)
        : List.of(ImageFormat.RAW);
  }

  @Override
  public Volname parseVolname(String volname) {
    Matcher m = NAME.matcher(volname);
    if (!m.matches()) {
      throw new StorageException(ErrorKind.INVALID, "'" + volname + "' is not a volume name");
    }
    return new Volname(volname, Long.parseLong(m.group(2)), Optional.empty(),
        OptionalLong.empty(), false, m.group(1).equals("subvol") ? ImageFormat.SUBVOL
            : ImageFormat.RAW);
  }

  @Override
  public Path path(String volname, Optional<String> snapshot) {
    return parseVolname(volname).format() == ImageFormat.SUBVOL
        ? Path.of("/rpool/data", volname) : Path.of("/dev/pve", volname);
  }

  @Override
  public void activateVolume(String volname, Optional<String> snapshot) {
    parseVolname(volname);
    calls.add("activate " + volname);
  }

  @Override
  public void deactivateVolume(String volname, Optional<String> snapshot) {
    calls.add("deactivate " + volname);
  }

  @Override
  public SizeInfo volumeSizeInfo(String volname) {
    Long size = sizes.get(volname);
    if (size == null) {
      throw new StorageException(ErrorKind.NOT_FOUND, "volume " + volname + " does not exist");
    }
    return new SizeInfo(size, parseVolname(volname).format(), 0, Optional.empty());
  }

  @Override
  public long volumeResize(String volname, long newSizeBytes) {
    calls.add("resize " + volname + " " + newSizeBytes);
    long rounded = Math.ceilDiv(newSizeBytes, 4L << 20) * (4L << 20);
    sizes.put(volname, rounded);
    return rounded;
  }

  /** Not used by the service tests; the pool metrics have their own tests. */
  @Override
  public io.csi.pvestorage.storage.PoolInventory inventory() {
    throw new UnsupportedOperationException("inventory is not faked");
  }

  @Override
  public PoolStatus status() {
    return status;
  }

  /** Only the listing of given volumes, which is what the Node service asks for. */
  @Override
  public List<ImageInfo> listImages(OptionalLong owner, Optional<Collection<VolumeId>> volumes) {
    List<ImageInfo> images = new ArrayList<>();
    for (VolumeId id : volumes.orElseThrow(() -> new UnsupportedOperationException(
        "the node lists given volumes only"))) {
      Long size = sizes.get(id.volname());
      if (id.storeId().equals(storeId) && size != null) {
        Volname name = parseVolname(id.volname());
        images.add(new ImageInfo(id, name.format(), size, name.owner(), Optional.empty(),
            Optional.empty(), foreign.contains(id.volname()) ? Optional.empty()
                : Optional.of(VolumeMetadata.of("pvc-" + id.volname())), true));
      }
    }
    return images;
  }

  @Override
  public String allocImage(long owner, ImageFormat format, Optional<String> name, long sizeBytes,
      Optional<VolumeMetadata> metadata) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public void freeImage(String volname) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public String cloneImage(String volname, long owner, Optional<String> snapshot,
      Optional<String> name, Optional<VolumeMetadata> metadata) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public String createBase(String volname) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public void volumeSnapshot(String volname, String snapshot, Optional<VolumeMetadata> metadata) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public void volumeSnapshotDelete(String volname, String snapshot) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public List<SnapshotInfo> listSnapshots(Optional<String> volname) {
    throw new UnsupportedOperationException("not a node call");
  }

  @Override
  public String findFreeDiskname(long owner, ImageFormat format) {
    throw new UnsupportedOperationException("not a node call");
  }
}
