package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolStatus;
import io.csi.pvestorage.storage.SizeInfo;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.VolumeOptions;
import io.csi.pvestorage.storage.Volname;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A storage held in memory, with the plugin contract's observable behaviour (names, rounding to
 * 4 MiB like LVM extents, idempotent deletes, ALREADY_EXISTS, EXHAUSTED, snapshots with a CSI
 * name outliving their volume), for testing the controller's logic. Every mutating call records
 * itself and checks that the storage lock is held, so a test sees exactly what was done and
 * that nothing ran unlocked. Public for the orphan reconciler's tests, which also move its clock
 * ({@link #now(Instant)}: volumes and snapshots record it at creation) and give it hidden volumes.
 */
public final class MemoryStoragePlugin implements StoragePlugin {

  static final long UNIT = 4L << 20;
  private static final Pattern NAME = Pattern.compile("(vm|subvol|base)-([0-9]+)-(.+)");

  private record Snap(long size, Instant ctime, Optional<VolumeMetadata> metadata) {}

  private static final class Vol {
    final ImageFormat format;
    long size;
    final Optional<VolumeMetadata> metadata;
    final Instant ctime;

    Vol(ImageFormat format, long size, Optional<VolumeMetadata> metadata, Instant ctime) {
      this.format = format;
      this.size = size;
      this.metadata = metadata;
      this.ctime = ctime;
    }
  }

  private final String storeId;
  private final String type;
  private final Map<String, Vol> volumes = new TreeMap<>();
  /** Snapshots by volume name; those with a CSI name stay when their volume is freed. */
  private final Map<String, Map<String, Snap>> snapshots = new TreeMap<>();
  private volatile StorageException nextCloneFailure;
  private final List<String> calls = new CopyOnWriteArrayList<>();
  private volatile long allocatable = 100L << 30;
  private volatile long defaultOwner;
  private volatile BooleanSupplier lockHeld = () -> true;
  private volatile Instant now = Instant.parse("2026-11-24T12:00:00Z");

  private final List<io.csi.pvestorage.storage.HiddenVolume> hidden = new CopyOnWriteArrayList<>();

  public MemoryStoragePlugin(String storeId, String type) {
    this.storeId = storeId;
    this.type = type;
  }

  /** The mutating calls made so far, e.g. {@code alloc vm-0-pvc-1 1073741824}. */
  public List<String> calls() {
    return List.copyOf(calls);
  }

  public void lockCheck(BooleanSupplier held) {
    this.lockHeld = held;
  }

  void allocatable(long bytes) {
    this.allocatable = bytes;
  }

  /** Puts a volume in place, as if made by someone else (no metadata) or earlier. */
  public synchronized void put(String volname, ImageFormat format, long size,
      Optional<VolumeMetadata> metadata) {
    volumes.put(volname, new Vol(format, size, metadata, now));
  }

  public synchronized void putSnapshot(String volname, String snap, Optional<VolumeMetadata> metadata) {
    Vol v = volumes.get(volname);
    snapshotsOf(volname).put(snap, new Snap(v.size, now, metadata));
  }

  /** The time volumes and snapshots made from now on record as their creation. */
  public void now(Instant time) {
    this.now = time;
  }

  /** A deleted volume kept for its dependents, as {@link #listHidden} lists it. */
  public void putHidden(io.csi.pvestorage.storage.HiddenVolume volume) {
    hidden.add(volume);
  }

  @Override
  public List<io.csi.pvestorage.storage.HiddenVolume> listHidden() {
    return List.copyOf(hidden);
  }

  /** The next {@link #cloneImage} fails with this, after its checks, before it makes anything. */
  void failNextClone(StorageException failure) {
    this.nextCloneFailure = failure;
  }

  private Map<String, Snap> snapshotsOf(String volname) {
    return snapshots.computeIfAbsent(volname, v -> new TreeMap<>());
  }

  public synchronized boolean has(String volname) {
    return volumes.containsKey(volname);
  }

  synchronized long sizeOf(String volname) {
    return volumes.get(volname).size;
  }

  public synchronized boolean hasSnapshot(String volname, String snap) {
    return snapshots.getOrDefault(volname, Map.of()).containsKey(snap);
  }

  private void mutating(String call) {
    if (!lockHeld.getAsBoolean()) {
      throw new AssertionError(call + " ran without the storage lock");
    }
    calls.add(call);
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
  public long defaultOwner() {
    return defaultOwner;
  }

  /** The storage's csi-owner (0 unless set). */
  void defaultOwner(long owner) {
    this.defaultOwner = owner;
  }

  @Override
  public StoragePlugin withVolumeOptions(VolumeOptions options) {
    if (type.equals("lvmthin")) {
      return StoragePlugin.super.withVolumeOptions(options);
    }
    return this;
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
      throw new StorageException(ErrorKind.INVALID, "not a volume name: " + volname);
    }
    return new Volname(volname, Long.parseLong(m.group(2)), Optional.empty(),
        OptionalLong.empty(), m.group(1).equals("base"),
        m.group(1).equals("subvol") ? ImageFormat.SUBVOL : ImageFormat.RAW);
  }

  @Override
  public synchronized List<ImageInfo> listImages(OptionalLong owner,
      Optional<Collection<VolumeId>> wanted) {
    List<ImageInfo> out = new ArrayList<>();
    volumes.forEach((name, v) -> {
      VolumeId id = new VolumeId(storeId, name);
      if (wanted.isPresent() && !wanted.get().contains(id)) {
        return;
      }
      out.add(new ImageInfo(id, v.format, v.size, parseVolname(name).owner(),
          Optional.of(v.ctime), Optional.empty(), v.metadata, true));
    });
    return out;
  }

  @Override
  public synchronized String allocImage(long owner, ImageFormat format, Optional<String> name,
      long sizeBytes, Optional<VolumeMetadata> metadata) {
    String volname = name.orElseThrow();
    mutating("alloc " + volname + " " + sizeBytes);
    if (volumes.containsKey(volname)) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, volname + " exists");
    }
    csiNameFree(metadata);
    long size = round(sizeBytes);
    if (size > allocatable) {
      throw new StorageException(ErrorKind.EXHAUSTED, "no room for " + size);
    }
    volumes.put(volname, new Vol(format, size, metadata, now));
    return volname;
  }

  private void csiNameFree(Optional<VolumeMetadata> metadata) {
    String name = metadata.map(VolumeMetadata::csiName).orElse(null);
    if (name != null && volumes.values().stream()
        .anyMatch(v -> v.metadata.map(m -> m.csiName().equals(name)).orElse(false))) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, "CSI name " + name + " taken");
    }
  }

  /**
   * The zfspool double foresees its rounding, as the real plugins do; the lvmthin double does
   * not, so the controller's tests cover both ways of learning a new volume's size (foreseen,
   * and read back through {@link #volumeSizeInfo}).
   */
  @Override
  public OptionalLong allocationSize(ImageFormat format, long sizeBytes) {
    return type.equals("zfspool") && sizeBytes > 0 ? OptionalLong.of(round(sizeBytes))
        : OptionalLong.empty();
  }

  private static long round(long bytes) {
    return (bytes + UNIT - 1) / UNIT * UNIT;
  }

  @Override
  public synchronized void freeImage(String volname) {
    mutating("free " + volname);
    volumes.remove(volname);
    snapshotsOf(volname).values().removeIf(snap -> snap.metadata().isEmpty());
  }

  @Override
  public synchronized void finishCreate(String volname) {
    mutating("finish " + volname);
    if (!volumes.containsKey(volname)) {
      throw new StorageException(ErrorKind.NOT_FOUND, "no volume " + volname);
    }
  }

  @Override
  public synchronized String cloneImage(String volname, long owner, Optional<String> snapshot,
      Optional<String> name, Optional<VolumeMetadata> metadata) {
    String target = name.orElseThrow();
    mutating("clone " + volname + "@" + snapshot.orElse("") + " " + target);
    Vol source = volumes.get(volname);
    Snap snap = snapshot.map(s -> snapshots.getOrDefault(volname, Map.of()).get(s)).orElse(null);
    if (snapshot.isPresent() ? snap == null : source == null) {
      throw new StorageException(ErrorKind.NOT_FOUND, "no source " + volname);
    }
    if (volumes.containsKey(target)) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, target + " exists");
    }
    csiNameFree(metadata);
    StorageException failure = nextCloneFailure;
    if (failure != null) {
      nextCloneFailure = null;
      throw failure;
    }
    long size = snap != null ? snap.size() : source.size;
    volumes.put(target, new Vol(parseVolname(volname).format(), size, metadata, now));
    return target;
  }

  @Override
  public String createBase(String volname) {
    throw new UnsupportedOperationException("not used by the controller");
  }

  /** The volume each golden image's base was made from. */
  private final Map<String, String> goldenSources = new TreeMap<>();

  /**
   * A base {@code base-<owner>-disk-N} holding the source's size and the CSI name; the same one
   * again for the same CSI name.
   */
  @Override
  public synchronized SnapshotInfo goldenImageOwn(String volname, VolumeMetadata metadata) {
    mutating("golden " + volname);
    for (SnapshotInfo golden : listGoldenImages()) {
      if (golden.metadata().orElseThrow().csiName().equals(metadata.csiName())) {
        return golden;
      }
    }
    Vol source = volumes.get(volname);
    if (source == null) {
      throw new StorageException(ErrorKind.NOT_FOUND, "no volume " + volname);
    }
    if (source.metadata.isEmpty()) {
      throw StoragePlugin.notOurs("volume " + volname + " is not ours", "made a base of");
    }
    long owner = parseVolname(volname).owner();
    int n = 0;
    while (volumes.containsKey("base-" + owner + "-disk-" + n)) {
      n++;
    }
    String base = "base-" + owner + "-disk-" + n;
    volumes.put(base, new Vol(source.format, source.size, Optional.of(metadata), now));
    goldenSources.put(base, volname);
    return listGoldenImages().stream().filter(g -> g.id().volume().volname().equals(base))
        .findFirst().orElseThrow();
  }

  @Override
  public synchronized List<SnapshotInfo> listGoldenImages() {
    List<SnapshotInfo> out = new ArrayList<>();
    goldenSources.forEach((base, source) -> {
      Vol v = volumes.get(base);
      if (v != null) {
        out.add(new SnapshotInfo(new SnapshotId(new VolumeId(storeId, base), SnapshotInfo.GOLDEN),
            v.size, v.ctime, v.metadata, Optional.of(new VolumeId(storeId, source))));
      }
    });
    return out;
  }

  @Override
  public synchronized void volumeSnapshot(String volname, String snapshot,
      Optional<VolumeMetadata> metadata) {
    mutating("snapshot " + volname + "@" + snapshot);
    Vol v = volumes.get(volname);
    if (v == null) {
      throw new StorageException(ErrorKind.NOT_FOUND, "no volume " + volname);
    }
    if (snapshotsOf(volname).containsKey(snapshot)) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, snapshot + " exists");
    }
    snapshotsOf(volname).put(snapshot, new Snap(v.size, now, metadata));
  }

  @Override
  public synchronized void volumeSnapshotDelete(String volname, String snapshot) {
    mutating("delsnapshot " + volname + "@" + snapshot);
    snapshotsOf(volname).remove(snapshot);
  }

  @Override
  public synchronized List<SnapshotInfo> listSnapshots(Optional<String> volname) {
    List<SnapshotInfo> out = new ArrayList<>();
    snapshots.forEach((name, snaps) -> {
      if (volname.isPresent() && !volname.get().equals(name)) {
        return;
      }
      snaps.forEach((snap, s) -> out.add(new SnapshotInfo(
          new SnapshotId(new VolumeId(storeId, name), snap), s.size(), s.ctime(), s.metadata())));
    });
    return out;
  }

  @Override
  public synchronized long volumeResize(String volname, long newSizeBytes) {
    mutating("resize " + volname + " " + newSizeBytes);
    Vol v = volumes.get(volname);
    long size = round(newSizeBytes);
    if (size < v.size) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, "shrink");
    }
    v.size = size;
    return size;
  }

  @Override
  public synchronized SizeInfo volumeSizeInfo(String volname) {
    Vol v = volumes.get(volname);
    if (v == null) {
      throw new StorageException(ErrorKind.NOT_FOUND, "no volume " + volname);
    }
    return new SizeInfo(v.size, v.format, 0, Optional.empty());
  }

  /** Not used by the service tests; the pool metrics have their own tests. */
  @Override
  public io.csi.pvestorage.storage.PoolInventory inventory() {
    throw new UnsupportedOperationException("inventory is not faked");
  }

  @Override
  public PoolStatus status() {
    return new PoolStatus(200L << 30, 1L << 30, 199L << 30, 10L << 30, OptionalLong.empty(),
        OptionalLong.empty(), allocatable, true);
  }

  @Override
  public void activateVolume(String volname, Optional<String> snapshot) {}

  @Override
  public void deactivateVolume(String volname, Optional<String> snapshot) {}

  @Override
  public Path path(String volname, Optional<String> snapshot) {
    return Path.of("/dev", "memory", volname);
  }

  @Override
  public String findFreeDiskname(long owner, ImageFormat format) {
    return VolumeNames.findFreeDiskname(volumes.keySet(), owner, format, true, storeId);
  }
}
