package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.PoolInventory;
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
import io.csi.pvestorage.storage.config.StorageDefinition.CapacityPolicy;
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.lang.System.Logger.Level;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code zfspool} storage: zvols ({@code raw}) and filesystem datasets ({@code subvol})
 * directly below a pool dataset such as {@code rpool/data}, with the behaviour of PVE's
 * ZFSPoolPlugin (shared/reference/pve-storage-semantics.md, sections 1.3, 1.5, 2.2-2.14).
 *
 * <p><b>Commands.</b> Every call runs {@code zfs} through the {@link CommandRunner} as an argv.
 * Reads use one {@code zfs list -H -p -o <explicit columns> -t ... -r -d <depth> <pool>} per
 * operation (exact bytes, our user properties as columns) and keep only direct children of the
 * pool dataset (parent-path filter, PVE d05015f/c2e6a90), never one call per volume.
 *
 * <p><b>Metadata</b> (CSI name, claim, PV name) is stored as user properties {@code
 * pve-storage.csi.io:*} in the same {@code zfs create -o} / {@code zfs clone -o} / {@code zfs
 * snapshot -o} call that makes the object, values encoded by {@link PropertyValues}.
 *
 * <p><b>Sizes.</b> Sizes are rounded up to 1 MiB (or the volblocksize when larger) on create and
 * resize, for zvols as PVE does (zfs#8541) and, deliberately unlike PVE (which uses KiB), for
 * dataset refquotas too, so that both formats and LVM-thin report sizes the same way.
 *
 * <p><b>Clone dependencies</b> ("promote and tombstone"). A ZFS clone pins its origin snapshot,
 * and a dataset with such a snapshot cannot be destroyed. This plugin never refuses and never
 * leaks because of that:
 *
 * <ul>
 *   <li>{@link #volumeSnapshotDelete} of a snapshot that has clones renames it to a tombstone,
 *       {@code <dataset>@__deleted_<guid>}: hidden from {@link #listSnapshots}, its name free
 *       for a new snapshot, and destroyed by the reaper once its last clone is gone.
 *   <li>{@link #freeImage} of a volume with cloned snapshots destroys its other snapshots,
 *       renames the cloned ones to tombstones, {@code zfs promote}s one clone of the newest
 *       cloned snapshot (the tombstones move to that clone, the volume becomes a clone of it),
 *       then destroys the volume. Tombstones that no longer have clones are destroyed at once.
 *   <li>The <i>reaper</i>: every {@link #freeImage} and {@link #volumeSnapshotDelete} destroys
 *       the tombstones of its listing that have no clones left (the origin of a clone it just
 *       destroyed, and leftovers of a crash between two steps). It is best effort: a failure
 *       is logged and retried by a later call, never reported to the caller.
 * </ul>
 *
 * A consequence: after a promote, a linked clone of a freed base is no longer a clone of
 * {@code base-...@__base__}, so its listed volume ID loses the {@code base-N-disk-M/} prefix.
 * Every method accepts a volname with any base prefix and addresses the dataset by its own name,
 * so a volume ID issued earlier keeps working.
 *
 * <p><b>Locking</b>: as {@link StoragePlugin} says; this class holds no lock and no state.
 */
public final class ZfsPoolPlugin implements StoragePlugin {

  private static final System.Logger LOG = System.getLogger(ZfsPoolPlugin.class.getName());

  static final long MIB = 1L << 20;
  static final String BASE_SNAPSHOT = "__base__";
  static final String TOMBSTONE_PREFIX = "__deleted_";
  private static final Pattern TOMBSTONE = Pattern.compile("__deleted_[0-9]+");
  private static final Pattern HEALTH = Pattern.compile("[A-Z]+");

  /** The volume name part of PVE's regex, with the \S+ tail restricted to what ZFS allows. */
  private static final String TAIL = "[A-Za-z0-9_.:-]+";
  /** PVE's zfspool volname regex (section 1.3), strict tail. */
  private static final Pattern VOLNAME = Pattern.compile(
      "(((base|basevol)-([0-9]{1,9})-" + TAIL + ")/)?((base|basevol|vm|subvol)-([0-9]{1,9})-"
          + TAIL + ")");
  private static final Pattern CHILD = Pattern.compile(
      "(vm|base|subvol|basevol)-([0-9]{1,9})-" + TAIL);
  private static final int MAX_NAME = 128;
  private static final Duration FIRST_LINK_POLL = Duration.ofMillis(25);
  /** A zvol's whole-disk device name, as it may be passed to udevadm. */
  private static final Pattern ZVOL_DEVICE = Pattern.compile("zd[0-9]{1,6}");
  /** A /dev/zvol link's target ({@code ../../zd16}, {@code ../../../zd16p1}): its disk. */
  private static final Pattern LINKED_ZVOL =
      Pattern.compile("(?:\\.\\./)*(zd[0-9]{1,6})(?:p[0-9]+)?");
  private static final long MAX_OWNER = 999_999_999L;

  /**
   * Timing of this plugin; all configurable because ZFS under load is slow (PVE fix #3803).
   *
   * @param commandTimeout timeout of every zfs command
   * @param deviceLinkTimeout how long to wait for {@code /dev/zvol/<pool>/<name>} to appear
   *     after create, clone or activation (udev creates it asynchronously; PVE 894b9ec)
   * @param pollInterval the longest pause between two looks for the device link (the first
   *     look after 25 ms, then twice as long each time up to this)
   * @param busyAttempts attempts of a destroy or promote that fails with "dataset is busy"
   *     (PVE: 6)
   * @param busyDelay between two such attempts (PVE: 1 s)
   */
  public record Options(Duration commandTimeout, Duration deviceLinkTimeout,
      Duration pollInterval, int busyAttempts, Duration busyDelay) {

    public static final Options DEFAULT = new Options(Duration.ofMinutes(2),
        Duration.ofSeconds(30), Duration.ofSeconds(1), 6, Duration.ofSeconds(1));

    public Options {
      Objects.requireNonNull(commandTimeout, "commandTimeout");
      Objects.requireNonNull(deviceLinkTimeout, "deviceLinkTimeout");
      Objects.requireNonNull(pollInterval, "pollInterval");
      Objects.requireNonNull(busyDelay, "busyDelay");
      if (busyAttempts < 1) {
        throw new IllegalArgumentException("busyAttempts must be >= 1");
      }
    }
  }

  private final ZfsPoolStorage storage;
  private final CommandRunner runner;
  private final Options options;
  private final Clock clock;
  private final Sleeper sleeper;
  private final String pool;

  public ZfsPoolPlugin(ZfsPoolStorage storage, CommandRunner runner, Options options, Clock clock,
      Sleeper sleeper) {
    this.storage = Objects.requireNonNull(storage, "storage");
    this.runner = Objects.requireNonNull(runner, "runner");
    this.options = Objects.requireNonNull(options, "options");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.sleeper = Objects.requireNonNull(sleeper, "sleeper");
    this.pool = storage.pool();
  }

  /** Production wiring: default timing, the system clock, real sleeps. */
  public ZfsPoolPlugin(ZfsPoolStorage storage, CommandRunner runner) {
    this(storage, runner, Options.DEFAULT, Clock.systemUTC(), Sleeper.SYSTEM);
  }

  @Override
  public long defaultOwner() {
    return storage.common().owner();
  }

  @Override
  public StoragePlugin withVolumeOptions(VolumeOptions overrides) {
    if (overrides.isEmpty()) {
      return this;
    }
    ZfsPoolStorage adjusted = new ZfsPoolStorage(storage.storeId(), storage.pool(),
        overrides.volBlockSizeBytes().isPresent() ? overrides.volBlockSizeBytes()
            : storage.blockSizeBytes(),
        overrides.sparse().orElse(storage.sparse()), storage.mountpoint(), storage.common());
    return new ZfsPoolPlugin(adjusted, runner, options, clock, sleeper);
  }

  @Override
  public String storeId() {
    return storage.storeId();
  }

  @Override
  public String type() {
    return "zfspool";
  }

  @Override
  public List<ImageFormat> formats() {
    return List.of(ImageFormat.RAW, ImageFormat.SUBVOL);
  }

  // ---- names ------------------------------------------------------------------------------

  /**
   * PVE's regex {@code ^(((base|basevol)-(\d+)-\S+)\/)?((base|basevol|vm|subvol)-(\d+)-\S+)$}
   * (section 1.3) with one deliberate restriction: the {@code \S+} tails may only hold
   * characters ZFS allows in names ({@code A-Z a-z 0-9 _ . : -}), at most 128 in all, so that no
   * name reaches zfs unchecked.
   */
  @Override
  public Volname parseVolname(String volname) {
    if (volname == null || volname.length() > MAX_NAME) {
      throw new StorageException(ErrorKind.INVALID, "volume name '" + volname
          + "' is not a zfspool volume name (at most " + MAX_NAME + " characters)");
    }
    Matcher m = VOLNAME.matcher(volname);
    if (!m.matches()) {
      throw new StorageException(ErrorKind.INVALID, "volume name '" + volname + "' is not a "
          + "zfspool volume name: expected vm-<id>-<name>, subvol-<id>-<name>, base-..., "
          + "basevol-... or base-<id>-<name>/vm-<id>-<name>");
    }
    String prefix = m.group(6);
    boolean isBase = prefix.equals("base") || prefix.equals("basevol");
    ImageFormat format = prefix.equals("subvol") || prefix.equals("basevol")
        ? ImageFormat.SUBVOL : ImageFormat.RAW;
    return new Volname(m.group(5), Long.parseLong(m.group(7)), Optional.ofNullable(m.group(2)),
        m.group(4) == null ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(m.group(4))),
        isBase, format);
  }

  @Override
  public Path path(String volname, Optional<String> snapshot) {
    Volname v = parseVolname(volname);
    String snap = snapshot.map(s -> "@" + validSnapshot(s, true)).orElse("");
    if (v.format() == ImageFormat.RAW) {
      return Path.of("/dev/zvol/" + pool + "/" + v.name() + snap);
    }
    String base = storage.mountpoint().orElse("/" + pool);
    return Path.of(base, v.name() + snap);
  }

  @Override
  public String findFreeDiskname(long owner, ImageFormat format) {
    validOwner(owner);
    return freeName(list(1, false), owner, format);
  }

  private String freeName(Listing listing, long owner, ImageFormat format) {
    List<String> names = new ArrayList<>();
    for (ZfsDataset d : listing.children()) {
      names.add(volidName(d));
    }
    return VolumeNames.findFreeDiskname(names, owner, format, true, storeId());
  }

  // ---- listing ----------------------------------------------------------------------------

  @Override
  public List<ImageInfo> listImages(OptionalLong owner, Optional<Collection<VolumeId>> volumes) {
    Set<String> wanted = null;
    if (volumes.isPresent()) {
      wanted = new HashSet<>();
      for (VolumeId id : volumes.get()) {
        if (id.storeId().equals(storeId())) {
          try {
            wanted.add(parseVolname(id.volname()).name());
          } catch (StorageException e) {
            // not a name of this storage: matches nothing
          }
        }
      }
    }
    List<ImageInfo> images = new ArrayList<>();
    for (ZfsDataset d : list(1, false).children()) {
      Volname v = parseVolname(d.leafName());
      if (wanted != null ? !wanted.contains(v.name())
          : owner.isPresent() && owner.getAsLong() != v.owner()) {
        continue;
      }
      images.add(new ImageInfo(new VolumeId(storeId(), volidName(d)), v.format(),
          provisioned(d), v.owner(), Optional.of(Instant.ofEpochSecond(d.creation())),
          d.origin().map(this::relative), metadata(d), true));
    }
    images.sort(Comparator.comparing(i -> i.volid().toString().toLowerCase(Locale.ROOT)));
    return images;
  }

  @Override
  public List<SnapshotInfo> listSnapshots(Optional<String> volname) {
    Optional<String> only = volname.map(n -> dataset(parseVolname(n).name()));
    Listing listing = list(2, true);
    List<SnapshotInfo> result = new ArrayList<>();
    for (ZfsDataset volume : listing.children()) {
      if (only.isPresent() && !only.get().equals(volume.name())) {
        continue;
      }
      for (ZfsDataset snap : visibleSnapshots(listing, volume)) {
        String snapName = snap.snapName().orElseThrow();
        SnapshotId id = new SnapshotId(new VolumeId(storeId(), volidName(volume)), snapName);
        result.add(new SnapshotInfo(id, snapshotSize(snap, volume),
            Instant.ofEpochSecond(snap.creation()),
            snap.snapshotCsiName().map(VolumeMetadata::of)));
      }
    }
    return result;
  }

  /** The snapshots of a volume that are listed: not __base__, tombstones, or names PVE rejects. */
  private static List<ZfsDataset> visibleSnapshots(Listing listing, ZfsDataset volume) {
    return listing.snapshotsOf(volume.name()).stream()
        .filter(s -> SnapshotId.SNAP_NAME.matcher(s.snapName().orElseThrow()).matches())
        .toList();
  }

  /**
   * The size a restore from the snapshot needs: a zvol snapshot's own volsize (ZFS keeps the
   * size at snapshot time); for a dataset the refquota recorded on the snapshot, else the
   * dataset's current refquota, else (no quota at all) the bytes the snapshot references, so
   * that it is never 0.
   */
  private static long snapshotSize(ZfsDataset snap, ZfsDataset volume) {
    if (snap.volsize().isPresent()) {
      return snap.volsize().getAsLong();
    }
    long recorded = snap.recordedRefquota().orElse(0);
    if (recorded > 0) {
      return recorded;
    }
    long current = volume.refquota().orElse(0);
    return current > 0 ? current : Math.max(1, snap.referenced());
  }

  @Override
  public SizeInfo volumeSizeInfo(String volname) {
    Volname v = parseVolname(volname);
    ZfsDataset d = one(v.name());
    return new SizeInfo(provisioned(d), format(d), d.usedByDataset(),
        d.origin().map(this::relative));
  }

  /**
   * {@inheritDoc}
   *
   * <p>One command, {@code zfs list ... -d 1 <pool>}, instead of PVE's {@code zfs get
   * available,used <pool>}: its first row is the pool dataset, whose {@code used} and {@code
   * available} are exactly what {@code zfs get -Hp available,used} reports, and the other rows
   * give the provisioned sum.
   *
   * <p>Capacity formula, with the meaning of LVM-thin's ({@code ThinCapacity}): {@code total =
   * used + available}; {@code provisioned} = the sum of volsizes and refquotas of the storage's
   * volumes (bases and clones included: each may be written up to its size);
   *
   * <pre>
   *   dataFull    = used × 100 ≥ total × dataLimitPercent
   *   allocatable = dataFull ? 0 : max(0, floor(total × overcommit) − provisioned)
   *   and, when the storage is not sparse: allocatable = min(allocatable, available)
   * </pre>
   *
   * The data limit is a threshold, not a reservation, as on LVM-thin. Non-sparse zvols reserve
   * their size: ZFS counts their refreservation in the pool's {@code used} (so they push the
   * pool towards the data limit at once) and a new one must fit in {@code available}.
   * {@code metadataLimitPercent} does not apply to ZFS.
   */
  @Override
  public PoolStatus status() {
    return statusOf(list(1, false));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Two commands: {@code zfs list ... -t filesystem,volume,snapshot -r -d 2 <pool>} (the
   * listing of {@link #listSnapshots}; its first two levels give the status exactly as
   * {@link #status} computes it, and the counts), then {@code zpool list -H -o health <zpool>}
   * for the zpool the dataset lives in. Neither tool reports datasets and pool health in one
   * call.
   */
  @Override
  public PoolInventory inventory() {
    Listing listing = list(2, true);
    PoolStatus status = statusOf(listing);
    List<ZfsDataset> volumes = listing.children();
    int snapshots = 0;
    for (ZfsDataset volume : volumes) {
      snapshots += visibleSnapshots(listing, volume).size();
    }
    return new PoolInventory(status, volumes.size(), snapshots, Optional.of(health()));
  }

  /** The zpool's health word ({@code ONLINE}, {@code DEGRADED}, ...). */
  private String health() {
    String zpool = pool.split("/", 2)[0];
    CommandResult result = mustRun(List.of("zpool", "list", "-H", "-o", "health", zpool),
        "cannot read the health of zpool " + zpool + " (storage " + storeId() + ")");
    String health = result.stdoutText().strip();
    if (!HEALTH.matcher(health).matches()) {
      throw new StorageException(ErrorKind.INTERNAL, "zpool list -o health " + zpool
          + " answered '" + health + "', not one health word");
    }
    return health;
  }

  private PoolStatus statusOf(Listing listing) {
    ZfsDataset root = listing.root().orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND,
        "pool dataset " + pool + " of storage " + storeId() + " is not listed"));
    long used = root.used();
    long available = root.available().orElse(0);
    long total = used + available;
    long provisioned = 0;
    for (ZfsDataset d : listing.children()) {
      provisioned += provisioned(d);
    }
    long allocatable = allocatable(storage.common().capacity(), storage.sparse(), total, used,
        available, provisioned);
    return new PoolStatus(total, used, available, provisioned, OptionalLong.empty(),
        OptionalLong.empty(), allocatable, true);
  }

  static long allocatable(CapacityPolicy policy, boolean sparse, long total, long used,
      long available, long provisioned) {
    BigInteger t = BigInteger.valueOf(total);
    boolean dataFull = BigInteger.valueOf(used).multiply(BigInteger.valueOf(100))
        .compareTo(t.multiply(BigInteger.valueOf(policy.dataLimitPercent()))) >= 0;
    if (dataFull) {
      return 0;
    }
    BigInteger room = new BigDecimal(t).multiply(BigDecimal.valueOf(policy.overcommit()))
        .setScale(0, RoundingMode.FLOOR).toBigInteger().subtract(BigInteger.valueOf(provisioned));
    long allocatable = room.signum() <= 0 ? 0
        : room.min(BigInteger.valueOf(Long.MAX_VALUE)).longValueExact();
    return sparse ? allocatable : Math.min(allocatable, Math.max(0, available));
  }

  /** EXHAUSTED unless the capacity policy allows {@code moreBytes} more provisioned bytes. */
  private void requireRoom(Listing listing, long moreBytes, String what) {
    PoolStatus status = statusOf(listing);
    if (moreBytes > status.allocatableBytes()
        || moreBytes == 0 && status.allocatableBytes() == 0) {
      CapacityPolicy policy = storage.common().capacity();
      throw new StorageException(ErrorKind.EXHAUSTED, "storage " + storeId() + " (" + pool
          + ") cannot take " + what + " (" + moreBytes + " bytes): " + status.allocatableBytes()
          + " bytes are allocatable under the capacity policy (overcommit "
          + policy.overcommit() + ", data limit " + policy.dataLimitPercent() + " %; pool "
          + status.totalBytes() + " bytes, " + status.usedBytes() + " used, "
          + status.provisionedBytes() + " provisioned)");
    }
  }

  // ---- allocation -------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>raw: {@code zfs create [-s] [-b <blocksize>] -o <metadata>... -V <KiB>k <pool>/<name>},
   * then waits for {@code /dev/zvol/<pool>/<name>}. subvol: {@code zfs create -o
   * acltype=posixacl -o xattr=sa -o refquota=<KiB>k|none -o <metadata>... <pool>/<name>}.
   * One listing first: the capacity policy (EXHAUSTED before anything is created) and, without
   * a name, the next free disk name.
   */
  @Override
  public String allocImage(long owner, ImageFormat format, Optional<String> name, long sizeBytes,
      Optional<VolumeMetadata> metadata) {
    validOwner(owner);
    if (format == null) {
      throw new StorageException(ErrorKind.INVALID, "no format given (raw or subvol)");
    }
    long size = validSize(sizeBytes, format, blockUnit(OptionalLong.empty()));
    List<String> props = metadataOptions(metadata, false);
    if (name.isPresent()) {
      Volname v = parseVolname(name.get());
      String prefix = (format == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-";
      if (!name.get().startsWith(prefix) || v.baseName().isPresent()) {
        throw new StorageException(ErrorKind.INVALID, "illegal name '" + name.get()
            + "' - should be '" + prefix + "*'");
      }
    }
    Listing listing = list(1, false);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    requireRoom(listing, size, "a new volume");
    String volname = name.isPresent() ? name.get() : freeName(listing, owner, format);
    String ds = dataset(volname);
    List<String> argv = new ArrayList<>(List.of("zfs", "create"));
    if (format == ImageFormat.RAW) {
      if (storage.sparse()) {
        argv.add("-s");
      }
      storage.blockSizeBytes().ifPresent(b -> {
        argv.add("-b");
        argv.add(Long.toString(b));
      });
      argv.addAll(props);
      argv.add("-V");
      argv.add(size / 1024 + "k");
    } else {
      argv.addAll(List.of("-o", "acltype=posixacl", "-o", "xattr=sa",
          "-o", "refquota=" + (size == 0 ? "none" : size / 1024 + "k")));
      argv.addAll(props);
    }
    argv.add(ds);
    mustRun(argv, "cannot create " + format.pveName() + " volume " + volname);
    if (format == ImageFormat.RAW) {
      waitForDeviceLink(volname);
    }
    return volname;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Zvols get the rounding {@link #allocImage} applies (1 MiB, or the volblocksize when
   * larger); datasets get their quota exactly (no quota: empty, the size is the pool's).
   */
  @Override
  public OptionalLong allocationSize(ImageFormat format, long sizeBytes) {
    if (sizeBytes <= 0 || format == null) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(validSize(sizeBytes, format, blockUnit(OptionalLong.empty())));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Deliberate differences from PVE: any volume's snapshot can be cloned (PVE: bases only),
   * the target name may be given, the clone of a non-sparse storage gets {@code
   * refreservation=auto} (PVE's clones reserve nothing whatever {@code sparse} says), and this
   * method waits for the zvol link (PVE leaves that to activation). A dataset clone gets the
   * refquota recorded on the snapshot (else the source's current one; 0 becomes {@code none}).
   * The clone keeps its origin snapshot pinned; see the class comment for how deletes cope.
   */
  @Override
  public String cloneImage(String volname, long owner, Optional<String> snapshot,
      Optional<String> name, Optional<VolumeMetadata> metadata) {
    Volname source = parseVolname(volname);
    validOwner(owner);
    String snap;
    if (snapshot.isPresent()) {
      snap = validSnapshot(snapshot.get(), true);
    } else {
      if (!source.isBase()) {
        throw new StorageException(ErrorKind.PRECONDITION, "clone_image of '" + volname
            + "' needs a snapshot: only base volumes can be cloned without one");
      }
      snap = BASE_SNAPSHOT;
    }
    List<String> props = metadataOptions(metadata, false);
    Listing listing = list(2, true);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    String sourceDs = dataset(source.name());
    ZfsDataset sourceRow = listing.get(sourceDs).orElseThrow(() -> new StorageException(
        ErrorKind.NOT_FOUND, "volume " + volname + " does not exist in storage " + storeId()));
    ZfsDataset snapRow = listing.get(sourceDs + "@" + snap).orElseThrow(() ->
        new StorageException(ErrorKind.NOT_FOUND, "snapshot " + snap + " of volume " + volname
            + " does not exist in storage " + storeId()));
    String target;
    if (name.isPresent()) {
      target = name.get();
      Volname t = parseVolname(target);
      String prefix = (source.format() == ImageFormat.SUBVOL ? "subvol-" : "vm-") + owner + "-";
      if (!target.startsWith(prefix) || t.baseName().isPresent()) {
        throw new StorageException(ErrorKind.INVALID, "illegal name '" + target
            + "' - should be '" + prefix + "*'");
      }
    } else {
      target = freeName(listing, owner, source.format());
    }
    requireRoom(listing, snapshotSize(snapRow, sourceRow), "a clone of " + volname + "@" + snap);
    List<String> argv = new ArrayList<>(List.of("zfs", "clone"));
    argv.addAll(props);
    if (source.format() == ImageFormat.SUBVOL) {
      long quota = snapRow.recordedRefquota().orElse(0);
      if (quota == 0) {
        quota = sourceRow.refquota().orElse(0);
      }
      argv.addAll(List.of("-o", "refquota=" + (quota == 0 ? "none" : Long.toString(quota))));
    } else if (!storage.sparse()) {
      argv.addAll(List.of("-o", "refreservation=auto"));
    }
    argv.add(sourceDs + "@" + snap);
    argv.add(dataset(target));
    mustRun(argv, "cannot clone " + volname + "@" + snap + " to " + target);
    if (source.format() == ImageFormat.RAW) {
      waitForDeviceLink(target);
    }
    boolean linked = snap.equals(BASE_SNAPSHOT) && source.isBase();
    return linked ? source.name() + "/" + target : target;
  }

  /**
   * {@inheritDoc}
   *
   * <p>{@code zfs rename <pool>/<name> <pool>/<base name>}, then {@code zfs snapshot [-o
   * pve-storage:refquota=<bytes>] <pool>/<base name>@__base__}, as PVE. Retried after a crash
   * between the two, a call finds the renamed dataset without {@code @__base__} and only takes
   * the snapshot.
   */
  @Override
  public String createBase(String volname) {
    Volname v = parseVolname(volname);
    if (v.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION,
          "create_base not possible with base image " + volname);
    }
    String newName = (v.format() == ImageFormat.SUBVOL ? "basevol-" : "base-")
        + v.name().substring(v.name().indexOf('-') + 1);
    Listing listing = list(2, true);
    Optional<ZfsDataset> current = listing.get(dataset(v.name()));
    Optional<ZfsDataset> renamed = listing.get(dataset(newName));
    ZfsDataset row;
    if (current.isPresent()) {
      if (renamed.isPresent()) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, "cannot create base " + newName
            + ": it exists already next to " + volname);
      }
      mustRun(List.of("zfs", "rename", dataset(v.name()), dataset(newName)),
          "cannot rename " + volname + " to " + newName);
      row = current.get();
    } else if (renamed.isPresent()
        && listing.get(dataset(newName) + "@" + BASE_SNAPSHOT).isEmpty()) {
      row = renamed.get(); // a crash after the rename: finish the job
    } else {
      throw new StorageException(ErrorKind.NOT_FOUND,
          "volume " + volname + " does not exist in storage " + storeId());
    }
    List<String> argv = new ArrayList<>(List.of("zfs", "snapshot"));
    if (v.format() == ImageFormat.SUBVOL) {
      argv.addAll(List.of("-o", ZfsListParser.PVE_REFQUOTA + "=" + row.refquota().orElse(0)));
    }
    argv.add(dataset(newName) + "@" + BASE_SNAPSHOT);
    mustRun(argv, "cannot snapshot base " + newName);
    return v.baseName().map(b -> b + "/").orElse("") + newName;
  }

  // ---- snapshots --------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>{@code zfs snapshot -o pve-storage.csi.io:snapshot-csi-name=<name> <pool>/<name>@<snap>};
   * for a dataset also {@code -o pve-storage:refquota=<bytes>} (read by one listing first), in
   * the same call, because ZFS does not restore refquota on rollback (PVE fix #6561) and a
   * restore needs the size at snapshot time.
   */
  @Override
  public void volumeSnapshot(String volname, String snapshot, Optional<VolumeMetadata> metadata) {
    Volname v = parseVolname(volname);
    String snap = validSnapshot(snapshot, false);
    List<String> argv = new ArrayList<>(List.of("zfs", "snapshot"));
    argv.addAll(metadataOptions(metadata, true));
    if (v.format() == ImageFormat.SUBVOL) {
      ZfsDataset row = one(v.name());
      argv.addAll(List.of("-o", ZfsListParser.PVE_REFQUOTA + "=" + row.refquota().orElse(0)));
    }
    argv.add(dataset(v.name()) + "@" + snap);
    mustRun(argv, "cannot snapshot " + volname + "@" + snap);
  }

  /**
   * {@inheritDoc}
   *
   * <p>No clones: {@code zfs destroy <pool>/<name>@<snap>} (busy retried). With clones: {@code
   * zfs rename <...>@<snap> <...>@__deleted_<guid>}, a tombstone the reaper destroys when the
   * last clone goes, so this never fails because of clones. Then the reaper runs.
   */
  @Override
  public void volumeSnapshotDelete(String volname, String snapshot) {
    Volname v = parseVolname(volname);
    String snap = validSnapshot(snapshot, false);
    Listing listing = list(2, true);
    String full = dataset(v.name()) + "@" + snap;
    Optional<ZfsDataset> row = listing.get(full);
    Set<String> reaped = new HashSet<>();
    if (row.isPresent()) {
      if (row.get().clones().isEmpty()) {
        destroy(List.of("zfs", "destroy", full), "cannot destroy snapshot " + full);
      } else {
        mustRun(List.of("zfs", "rename", full, tombstone(row.get())),
            "cannot set snapshot " + full + " aside for its clones");
      }
      reaped.add(full);
    }
    reap(listing, Set.of(), reaped);
  }

  // ---- delete -----------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>Without cloned snapshots: {@code zfs destroy -r <pool>/<name>} (busy retried, "does not
   * exist" is success). With cloned snapshots, see the class comment: destroy the uncloned
   * snapshots, rename the cloned ones to tombstones, {@code zfs promote} a clone of the newest,
   * destroy, reap. Never PRECONDITION because of clones; PRECONDITION when still busy after
   * {@link Options#busyAttempts()} attempts.
   */
  @Override
  public void freeImage(String volname) {
    Volname v = parseVolname(volname);
    String ds = dataset(v.name());
    Listing listing = list(2, true);
    Optional<ZfsDataset> volume = listing.get(ds);
    Set<String> destroyed = new HashSet<>();
    Set<String> handled = new HashSet<>();
    if (volume.isEmpty()) {
      reap(listing, destroyed, handled);
      return;
    }
    List<ZfsDataset> snaps = listing.snapshotsOf(ds);
    List<ZfsDataset> cloned = snaps.stream().filter(s -> !s.clones().isEmpty()).toList();
    if (cloned.isEmpty()) {
      destroy(List.of("zfs", "destroy", "-r", ds), "cannot destroy " + volname);
      destroyed.add(ds);
      snaps.forEach(s -> handled.add(s.name()));
      reap(listing, destroyed, handled);
      return;
    }
    List<ZfsDataset> plain = snaps.stream().filter(s -> s.clones().isEmpty()).toList();
    if (!plain.isEmpty()) {
      String list = String.join(",", plain.stream().map(s -> s.snapName().orElseThrow()).toList());
      destroy(List.of("zfs", "destroy", ds + "@" + list),
          "cannot destroy the snapshots of " + volname);
    }
    // Cloned snapshots become tombstones; the names are unique, so the promote below cannot
    // fail on a snapshot name that the heir already has (e.g. both with @__base__).
    Map<ZfsDataset, String> tombstones = new LinkedHashMap<>();
    for (ZfsDataset s : cloned) {
      String snapName = s.snapName().orElseThrow();
      if (TOMBSTONE.matcher(snapName).matches()) {
        tombstones.put(s, snapName);
      } else {
        String t = tombstone(s);
        mustRun(List.of("zfs", "rename", s.name(), t), "cannot set snapshot " + s.name()
            + " aside for its clones");
        tombstones.put(s, t.substring(t.indexOf('@') + 1));
      }
    }
    ZfsDataset newest = cloned.get(cloned.size() - 1);
    String heir = newest.clones().stream().sorted().findFirst().orElseThrow();
    runRetryingBusy(List.of("zfs", "promote", heir), "cannot promote " + heir
        + " to free " + volname);
    destroy(List.of("zfs", "destroy", "-r", ds), "cannot destroy " + volname);
    destroyed.add(ds);
    // The tombstones now live on the heir; those whose only clone was the heir are garbage.
    List<String> garbage = new ArrayList<>();
    for (Map.Entry<ZfsDataset, String> e : tombstones.entrySet()) {
      handled.add(e.getKey().name());
      Set<String> rest = new HashSet<>(e.getKey().clones());
      rest.remove(heir);
      if (rest.isEmpty()) {
        garbage.add(heir + "@" + e.getValue());
      }
    }
    plain.forEach(s -> handled.add(s.name()));
    // The volume's own origin now belongs to the heir (promote hands it over): not garbage.
    volume.get().origin().ifPresent(handled::add);
    for (String snapshot : garbage) {
      reapOne(snapshot);
    }
    reap(listing, destroyed, handled);
  }

  /** {@code <dataset>@__deleted_<guid>}: unique within the pool, never a valid SNAP_NAME. */
  private static String tombstone(ZfsDataset snapshot) {
    return snapshot.datasetName() + "@" + TOMBSTONE_PREFIX + snapshot.guid();
  }

  /**
   * The reaper: destroys every tombstone of the listing that has no clones left once {@code
   * destroyed} are gone, except those in {@code handled} (dealt with by the caller). Best
   * effort: failures are logged; a later call tries again.
   */
  private void reap(Listing listing, Set<String> destroyed, Set<String> handled) {
    for (ZfsDataset row : listing.rows()) {
      if (!row.isSnapshot() || handled.contains(row.name())
          || destroyed.contains(row.datasetName())
          || !TOMBSTONE.matcher(row.snapName().orElse("")).matches()) {
        continue;
      }
      if (destroyed.containsAll(row.clones())) {
        reapOne(row.name());
      }
    }
  }

  private void reapOne(String snapshot) {
    try {
      destroy(List.of("zfs", "destroy", snapshot), "cannot reap tombstone " + snapshot);
    } catch (StorageException e) {
      LOG.log(Level.WARNING, "tombstone {0} left for a later call: {1}", snapshot, e.describe());
    }
  }

  // ---- resize -----------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>One listing (the size, and the capacity policy for the growth: EXHAUSTED before
   * anything changes), then {@code zfs set volsize=<KiB>k} (zvol; ZFS grows a non-sparse
   * zvol's refreservation with it) or {@code zfs set refquota=<KiB>k} (dataset). A dataset without
   * quota ({@code none}) is unlimited, so any quota would shrink it: OUT_OF_RANGE. Deliberate
   * difference from PVE, which lets callers shrink.
   */
  @Override
  public long volumeResize(String volname, long newSizeBytes) {
    Volname v = parseVolname(volname);
    if (newSizeBytes <= 0) {
      throw new StorageException(ErrorKind.INVALID,
          "new size must be > 0 bytes, got " + newSizeBytes);
    }
    Listing listing = list(1, false);
    ZfsDataset row = listing.get(dataset(v.name())).orElseThrow(() -> new StorageException(
        ErrorKind.NOT_FOUND, "volume " + volname + " does not exist in storage " + storeId()));
    long unit = blockUnit(row.volblocksize());
    long rounded = roundUp(newSizeBytes, unit);
    long current = provisioned(row);
    boolean raw = row.isVolume();
    if (!raw && current == 0) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, "dataset " + volname
          + " has no quota (unlimited); a quota of " + rounded + " bytes would shrink it");
    }
    if (rounded == current) {
      return current;
    }
    if (rounded < current) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, "cannot shrink " + volname + " from "
          + current + " to " + rounded + " bytes (requested " + newSizeBytes
          + ", rounded up to " + unit + ")");
    }
    requireRoom(listing, rounded - current, "the growth of " + volname);
    String property = raw ? "volsize" : "refquota";
    mustRun(List.of("zfs", "set", property + "=" + rounded / 1024 + "k", dataset(v.name())),
        "cannot resize " + volname + " to " + rounded + " bytes");
    return rounded;
  }

  // ---- activation -------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>A snapshot: nothing (PVE never sets {@code snapdev=visible}). A zvol: wait for the
   * device link ({@code test -b /dev/zvol/<pool>/<name>}, polled). A dataset: {@code zfs get
   * -H -p -o value mounted <pool>/<name>} (by dataset name, never by path: PVE 3893d27), then
   * {@code zfs mount <pool>/<name>} unless it says {@code yes}.
   */
  @Override
  public void activateVolume(String volname, Optional<String> snapshot) {
    Volname v = parseVolname(volname);
    if (snapshot.isPresent()) {
      validSnapshot(snapshot.get(), true);
      return;
    }
    if (v.format() == ImageFormat.RAW) {
      waitForDeviceLink(v.name());
      return;
    }
    String ds = dataset(v.name());
    CommandResult mounted = mustRun(List.of("zfs", "get", "-H", "-p", "-o", "value", "mounted",
        ds), "cannot read whether " + volname + " is mounted");
    if (!mounted.stdoutText().strip().equals("yes")) {
      CommandResult mount = run(List.of("zfs", "mount", ds));
      if (!mount.succeeded() && !mount.stderrText().contains("already mounted")) {
        throw ZfsErrors.failure(mount, "cannot mount " + volname);
      }
    }
  }

  /** A no-op, as in PVE: zvols and datasets stay available; nothing is unmounted here. */
  @Override
  public void deactivateVolume(String volname, Optional<String> snapshot) {
    parseVolname(volname);
    snapshot.ifPresent(s -> validSnapshot(s, true));
  }

  // ---- helpers ----------------------------------------------------------------------------

  private void waitForDeviceLink(String name) {
    String link = "/dev/zvol/" + pool + "/" + name;
    Instant start = clock.instant();
    Instant deadline = start.plus(options.deviceLinkTimeout());
    Instant askAgain = start.plus(options.deviceLinkTimeout().dividedBy(3));
    boolean askedAgain = false;
    // udev usually makes the link within tens of milliseconds: look again soon, then back off
    // to the poll interval, so a create is not held up a whole interval for nothing.
    Duration pause = FIRST_LINK_POLL.compareTo(options.pollInterval()) < 0
        ? FIRST_LINK_POLL : options.pollInterval();
    while (true) {
      CommandResult test = run(List.of("test", "-b", link));
      if (test.succeeded()) {
        return;
      }
      Instant now = clock.instant();
      if (!now.isBefore(deadline)) {
        throw test.failure(ErrorKind.UNAVAILABLE, "timeout: no zvol device link for '" + name
            + "' found after " + options.deviceLinkTimeout().toSeconds() + " s");
      }
      if (!askedAgain && !now.isBefore(askAgain)) {
        askedAgain = true;
        askUdevAgain(link, Duration.between(start, now), Duration.between(now, deadline));
        continue;
      }
      pause(pause);
      pause = pause.multipliedBy(2).compareTo(options.pollInterval()) < 0
          ? pause.multipliedBy(2) : options.pollInterval();
    }
  }

  /**
   * udev runs {@code zvol_id} for every new zvol to name its link, and kills it when it takes
   * too long, as it does when many zvols appear at once (OpenZFS #756, #12484): the link is then
   * never made. Asks udev once more for each zvol device no {@code /dev/zvol} link points to, and
   * waits for udev's queue to empty. Best effort: a failure here only means waiting on.
   */
  private void askUdevAgain(String link, Duration waited, Duration left) {
    CommandResult links = run(List.of("find", "/dev/zvol", "-type", "l", "-printf", "%l\\n"));
    CommandResult devices = run(List.of("find", "/sys/block", "-maxdepth", "1", "-name", "zd*",
        "-printf", "%f\\n"));
    if (!devices.succeeded()) {
      LOG.log(Level.WARNING, "no {0} yet; cannot list the zvol devices: {1}", link,
          devices.stderrText().strip());
      return;
    }
    Set<String> linked = new HashSet<>();
    // Without any link /dev/zvol does not exist and find fails: then nothing is linked.
    for (String target : links.stdoutText().split("\n")) {
      Matcher m = LINKED_ZVOL.matcher(target.strip());
      if (m.matches()) {
        linked.add(m.group(1));
      }
    }
    List<String> unlinked = new ArrayList<>();
    for (String device : devices.stdoutText().split("\n")) {
      String zd = device.strip();
      if (ZVOL_DEVICE.matcher(zd).matches() && !linked.contains(zd)) {
        unlinked.add(zd);
      }
    }
    if (unlinked.isEmpty()) {
      LOG.log(Level.WARNING, "no {0} yet, and every zvol device has its link; waiting for ZFS "
          + "to make the device", link);
      return;
    }
    LOG.log(Level.WARNING, "no {0} after {1} s; asking udev again for the zvol devices without "
        + "a link: {2}", link, waited.toSeconds(), unlinked);
    List<String> argv = new ArrayList<>(List.of("udevadm", "trigger", "--action=change"));
    unlinked.forEach(zd -> argv.add("--sysname-match=" + zd));
    CommandResult trigger = run(argv);
    if (!trigger.succeeded()) {
      LOG.log(Level.WARNING, "udevadm trigger failed: {0}", trigger.stderrText().strip());
      return;
    }
    long settle = Math.max(1, Math.min(10, left.toSeconds()));
    CommandResult settled = run(List.of("udevadm", "settle", "--timeout=" + settle));
    if (!settled.succeeded()) {
      LOG.log(Level.WARNING, "udevadm settle: {0}", settled.stderrText().strip());
    }
  }

  private void pause(Duration duration) {
    try {
      sleeper.sleep(duration);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StorageException(ErrorKind.ABORTED, "interrupted while waiting", e);
    }
  }

  /** A destroy: busy retried, "does not exist" is success. */
  private void destroy(List<String> argv, String message) {
    CommandResult result = retryBusy(argv);
    if (!result.succeeded() && !ZfsErrors.isMissing(result)) {
      throw ZfsErrors.failure(result, message);
    }
  }

  private CommandResult runRetryingBusy(List<String> argv, String message) {
    CommandResult result = retryBusy(argv);
    if (!result.succeeded()) {
      throw ZfsErrors.failure(result, message);
    }
    return result;
  }

  private CommandResult retryBusy(List<String> argv) {
    CommandResult result = run(argv);
    for (int attempt = 1; attempt < options.busyAttempts() && ZfsErrors.isBusy(result);
        attempt++) {
      pause(options.busyDelay());
      result = run(argv);
    }
    return result;
  }

  private CommandResult run(List<String> argv) {
    return runner.run(Command.of(options.commandTimeout(), argv));
  }

  private CommandResult mustRun(List<String> argv, String message) {
    CommandResult result = run(argv);
    if (!result.succeeded()) {
      throw ZfsErrors.failure(result, message);
    }
    return result;
  }

  /**
   * One {@code zfs list} of the pool dataset and its children ({@code depth} 1), or also their
   * snapshots ({@code depth} 2, snapshots on).
   */
  private Listing list(int depth, boolean snapshots) {
    List<String> argv = List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS,
        "-t", snapshots ? "filesystem,volume,snapshot" : "filesystem,volume",
        "-r", "-d", Integer.toString(depth), pool);
    CommandResult result = mustRun(argv, "cannot list storage " + storeId());
    return new Listing(pool, ZfsListParser.parse(result.stdoutText()));
  }

  /** One dataset by name, with the listing columns. */
  private ZfsDataset one(String name) {
    List<String> argv = List.of("zfs", "list", "-H", "-p", "-o", ZfsListParser.COLUMNS,
        "-t", "filesystem,volume", dataset(name));
    CommandResult result = mustRun(argv, "cannot read volume " + name);
    List<ZfsDataset> rows = ZfsListParser.parse(result.stdoutText());
    if (rows.size() != 1) {
      throw new StorageException(ErrorKind.INTERNAL, "zfs list of " + name + " gave "
          + rows.size() + " rows");
    }
    return rows.get(0);
  }

  private String dataset(String name) {
    return pool + "/" + name;
  }

  private String relative(String fullName) {
    return fullName.startsWith(pool + "/") ? fullName.substring(pool.length() + 1) : fullName;
  }

  /** PVE's volid name: {@code <base>/<name>} for a clone of a base's {@code @__base__}. */
  private String volidName(ZfsDataset d) {
    if (d.origin().isPresent()) {
      String origin = relative(d.origin().get());
      if (origin.endsWith("@" + BASE_SNAPSHOT)) {
        String base = origin.substring(0, origin.length() - BASE_SNAPSHOT.length() - 1);
        if (base.startsWith("base-") || base.startsWith("basevol-")) {
          return base + "/" + d.leafName();
        }
      }
    }
    return d.leafName();
  }

  private static ImageFormat format(ZfsDataset d) {
    return d.isVolume() ? ImageFormat.RAW : ImageFormat.SUBVOL;
  }

  private static long provisioned(ZfsDataset d) {
    return d.isVolume() ? d.volsize().orElse(0) : d.refquota().orElse(0);
  }

  /** ALREADY_EXISTS when a volume of this storage already carries the CSI name. */
  private void requireCsiNameFree(Listing listing, VolumeMetadata metadata) {
    for (ZfsDataset d : listing.rows()) {
      if (!d.name().contains("@") && d.csiName().filter(metadata.csiName()::equals).isPresent()) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, "CSI name '" + metadata.csiName()
            + "' already belongs to volume '" + relative(d.name()) + "' of storage '"
            + storeId() + "'");
      }
    }
  }

  private static Optional<VolumeMetadata> metadata(ZfsDataset d) {
    return d.csiName().map(n -> new VolumeMetadata(n, d.pvcNamespace(), d.pvcName(), d.pvName()));
  }

  private static List<String> metadataOptions(Optional<VolumeMetadata> metadata,
      boolean snapshot) {
    List<String> argv = new ArrayList<>();
    if (metadata.isEmpty()) {
      return argv;
    }
    VolumeMetadata m = metadata.get();
    if (m.csiName().isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "the CSI name is empty");
    }
    if (snapshot) {
      option(argv, ZfsListParser.SNAPSHOT_CSI_NAME, Optional.of(m.csiName()));
      return argv;
    }
    option(argv, ZfsListParser.CSI_NAME, Optional.of(m.csiName()));
    option(argv, ZfsListParser.PVC_NAMESPACE, m.pvcNamespace());
    option(argv, ZfsListParser.PVC_NAME, m.pvcName());
    option(argv, ZfsListParser.PV_NAME, m.pvName());
    return argv;
  }

  private static void option(List<String> argv, String property, Optional<String> value) {
    if (value.isPresent() && !value.get().isEmpty()) {
      String encoded = PropertyValues.encode(value.get());
      if (encoded.length() > 1024) {
        throw new StorageException(ErrorKind.INVALID, property + " is too long ("
            + value.get().length() + " characters)");
      }
      argv.add("-o");
      argv.add(property + "=" + encoded);
    }
  }

  private static void validOwner(long owner) {
    if (owner < 0 || owner > MAX_OWNER) {
      throw new StorageException(ErrorKind.INVALID,
          "owner ID must be between 0 and " + MAX_OWNER + ", got " + owner);
    }
  }

  private static String validSnapshot(String snapshot, boolean allowBase) {
    if (snapshot == null || !(SnapshotId.SNAP_NAME.matcher(snapshot).matches()
        || allowBase && snapshot.equals(BASE_SNAPSHOT))) {
      throw new StorageException(ErrorKind.INVALID, "snapshot name '" + snapshot
          + "' is invalid (a letter, then letters, digits, '_' or '-', at most 40)");
    }
    return snapshot;
  }

  /** 1 MiB, or the volblocksize when it is larger (volsize must be a multiple of it). */
  private long blockUnit(OptionalLong volblocksize) {
    long unit = Math.max(MIB, storage.blockSizeBytes().orElse(0));
    return Math.max(unit, volblocksize.orElse(0));
  }

  private static long validSize(long sizeBytes, ImageFormat format, long unit) {
    if (sizeBytes < 0 || sizeBytes == 0 && format == ImageFormat.RAW) {
      throw new StorageException(ErrorKind.INVALID, "size must be > 0 bytes"
          + (format == ImageFormat.SUBVOL ? " (or 0 for a dataset without quota)" : "")
          + ", got " + sizeBytes);
    }
    return roundUp(sizeBytes, unit);
  }

  /** Rounds up to a multiple of {@code unit} without overflowing. */
  static long roundUp(long bytes, long unit) {
    long units = Math.ceilDiv(bytes, unit);
    if (units > Long.MAX_VALUE / unit) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE,
          "size " + bytes + " bytes is too large");
    }
    return units * unit;
  }

  /** A listing with lookups; rows in zfs order. */
  private record Listing(String pool, List<ZfsDataset> rows, Map<String, ZfsDataset> byName) {

    Listing(String pool, List<ZfsDataset> rows) {
      this(pool, rows, index(rows));
    }

    private static Map<String, ZfsDataset> index(List<ZfsDataset> rows) {
      Map<String, ZfsDataset> map = new LinkedHashMap<>();
      rows.forEach(r -> map.put(r.name(), r));
      return map;
    }

    Optional<ZfsDataset> get(String name) {
      return Optional.ofNullable(byName.get(name));
    }

    Optional<ZfsDataset> root() {
      return get(pool);
    }

    /** Direct children of the pool dataset with a PVE volume name (filesystems, volumes). */
    List<ZfsDataset> children() {
      List<ZfsDataset> result = new ArrayList<>();
      for (ZfsDataset d : rows) {
        if (!d.isSnapshot() && (d.isVolume() || d.isFilesystem())
            && d.parentPath().equals(pool) && CHILD.matcher(d.leafName()).matches()
            && d.leafName().length() <= MAX_NAME) {
          result.add(d);
        }
      }
      return result;
    }

    /** Snapshots of one dataset, oldest first (by creation txg). */
    List<ZfsDataset> snapshotsOf(String dataset) {
      Set<ZfsDataset> result = new LinkedHashSet<>();
      for (ZfsDataset d : rows) {
        if (d.isSnapshot() && d.datasetName().equals(dataset)) {
          result.add(d);
        }
      }
      return result.stream().sorted(Comparator.comparingLong(ZfsDataset::createTxg)).toList();
    }
  }
}
