package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.lock.Sleeper;
import io.csi.pvestorage.storage.HiddenVolume;
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
import io.csi.pvestorage.storage.config.ZfsPoolStorage;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code zfspool} storage: zvols ({@code raw}) and filesystem datasets ({@code subvol})
 * directly below a pool dataset such as {@code rpool/data}, with the behaviour of PVE's
 * ZFSPoolPlugin (shared/reference/pve-storage-semantics.md, sections 1.3, 1.5, 2.2-2.14).
 *
 * <p><b>Commands.</b> Every call runs {@code zfs} through the {@link CommandRunner} as an argv
 * ({@link ZfsCommands}; failures classified by {@link ZfsErrors}). Reads use one {@code zfs
 * list -H -p -o <explicit columns> -t ... -r -d <depth> <pool>} per operation (exact bytes, our
 * user properties as columns) and keep only direct children of the pool dataset (parent-path
 * filter, PVE d05015f/c2e6a90), never one call per volume.
 *
 * <p><b>Metadata</b> (CSI name, claim, PV name) is stored as user properties {@code
 * pve-storage.csi.io:*} in the same {@code zfs create -o} / {@code zfs clone -o} / {@code zfs
 * snapshot -o} call that makes the object, values encoded by {@link PropertyValues}.
 *
 * <p><b>Sizes.</b> Sizes are rounded up to 1 MiB (or the volblocksize when larger) on create and
 * resize, for zvols as PVE does (zfs#8541) and, deliberately unlike PVE (which uses KiB), for
 * dataset refquotas too, so that both formats and LVM-thin report sizes the same way.
 *
 * <p><b>Deletion</b> ("hide and tombstone", {@link ZfsDeletion}). A ZFS clone pins its origin
 * snapshot, and Kubernetes keeps a VolumeSnapshot usable after its volume is deleted. So a
 * delete never destroys a CSI snapshot and never waits for a clone: a volume that still has CSI
 * snapshots or clones is <i>hidden</i> (renamed to {@code csi-deleted-<guid>}, a name neither
 * PVE nor {@link #listImages} lists, with the volume name it had recorded on it), a snapshot
 * with clones becomes a <i>tombstone</i> ({@code @__deleted_<guid>}), and a reaper destroys
 * both once nothing needs them. Snapshot IDs issued before a delete keep working: {@link
 * #listSnapshots}, {@link #cloneImage} and {@link #volumeSnapshotDelete} find a snapshot in the
 * live volume of its volume name first, then in the hidden volumes that had that name. When a
 * new volume of the same name exists, its snapshots and those of the deleted one are listed
 * under the same volume ID.
 *
 * <p>A consequence: a linked clone of a deleted base is no longer a clone of {@code
 * base-...@__base__} (that snapshot became a tombstone), so its listed volume ID loses the
 * {@code base-N-disk-M/} prefix. Every method accepts a volname with any base prefix and
 * addresses the dataset by its own name, so a volume ID issued earlier keeps working.
 *
 * <p>This class orchestrates; the rules live in one place each: names in {@link ZfsNames},
 * command lines in {@link ZfsCommands}, the listing and its lookups in {@link Listing}, capacity
 * in {@link ZfsCapacity}, deletion in {@link ZfsDeletion}, device links in {@link ZvolLinks}.
 *
 * <p><b>Locking</b>: as {@link StoragePlugin} says; this class holds no lock and no state.
 */
public final class ZfsPoolPlugin implements StoragePlugin {

  static final long MIB = 1L << 20;
  private static final Pattern HEALTH = Pattern.compile("[A-Z]+");

  /**
   * Timing of this plugin; all configurable because ZFS under load is slow (PVE fix #3803).
   *
   * @param commandTimeout timeout of every zfs command
   * @param deviceLinkTimeout how long to wait for {@code /dev/zvol/<pool>/<name>} to appear
   *     after create, clone or activation (udev creates it asynchronously; PVE 894b9ec)
   * @param pollInterval the longest pause between two looks for the device link (the first
   *     look after 25 ms, then twice as long each time up to this)
   * @param busyAttempts attempts of a destroy, or of the mark and rename that hide a deleted
   *     volume, that fails with "dataset is busy" (PVE: 6, for destroys)
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
  private final ZfsRunner zfs;
  private final ZvolLinks links;
  private final ZfsDeletion deletion;

  public ZfsPoolPlugin(ZfsPoolStorage storage, CommandRunner runner, Options options, Clock clock,
      Sleeper sleeper) {
    this.storage = Objects.requireNonNull(storage, "storage");
    this.runner = Objects.requireNonNull(runner, "runner");
    this.options = Objects.requireNonNull(options, "options");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.sleeper = Objects.requireNonNull(sleeper, "sleeper");
    this.pool = storage.pool();
    this.zfs = new ZfsRunner(runner, options, sleeper);
    this.links = new ZvolLinks(pool, zfs, options, clock);
    this.deletion = new ZfsDeletion(zfs);
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

  /** {@inheritDoc} See {@link ZfsNames#parse}. */
  @Override
  public Volname parseVolname(String volname) {
    return ZfsNames.parse(volname);
  }

  @Override
  public Path path(String volname, Optional<String> snapshot) {
    Volname v = parseVolname(volname);
    String snap = snapshot.map(s -> "@" + ZfsNames.requireSnapshot(s, true)).orElse("");
    if (v.format() == ImageFormat.RAW) {
      return Path.of("/dev/zvol/" + pool + "/" + v.name() + snap);
    }
    String base = storage.mountpoint().orElse("/" + pool);
    return Path.of(base, v.name() + snap);
  }

  @Override
  public String findFreeDiskname(long owner, ImageFormat format) {
    ZfsNames.requireOwner(owner);
    return freeName(list(1, false), owner, format);
  }

  private String freeName(Listing listing, long owner, ImageFormat format) {
    List<String> names = new ArrayList<>();
    for (ZfsDataset d : listing.children()) {
      names.add(listing.volidName(d));
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
    Listing listing = list(1, false);
    List<ImageInfo> images = new ArrayList<>();
    for (ZfsDataset d : listing.children()) {
      Volname v = parseVolname(d.leafName());
      if (wanted != null ? !wanted.contains(v.name())
          : owner.isPresent() && owner.getAsLong() != v.owner()) {
        continue;
      }
      images.add(new ImageInfo(new VolumeId(storeId(), listing.volidName(d)), v.format(),
          d.provisionedBytes(), v.owner(), Optional.of(Instant.ofEpochSecond(d.creation())),
          d.origin().map(listing::relative), metadata(d), true));
    }
    images.sort(Comparator.comparing(i -> i.volid().toString().toLowerCase(Locale.ROOT)));
    return images;
  }

  /**
   * {@inheritDoc}
   *
   * <p>One listing with snapshots. A volume's snapshots are those of its live dataset and the
   * CSI snapshots of the hidden datasets of deleted volumes that had its name, each with the ID
   * it was issued with; a live volume's snapshots shadow a deleted one's of the same name.
   * Sorted by volume name, then oldest first.
   */
  @Override
  public List<SnapshotInfo> listSnapshots(Optional<String> volname) {
    Optional<String> only = volname.map(n -> parseVolname(n).name());
    Listing listing = list(2, true);
    List<SnapshotInfo> result = new ArrayList<>();
    for (Listing.Listed listed : listing.listedSnapshots()) {
      ZfsDataset volume = listed.volume();
      if (only.isPresent() && !only.get().equals(listing.volumeName(volume))) {
        continue;
      }
      result.add(snapshotInfo(listing.volidName(volume), volume, listed.snapshot()));
    }
    return result;
  }

  /**
   * {@inheritDoc}
   *
   * <p>The listing of {@link #listSnapshots}: every {@code csi-deleted-<guid>} dataset that
   * carries the volume name it had, with its CSI snapshots and the clones of any of its
   * snapshots (tombstones included, since they pin it too).
   */
  @Override
  public List<HiddenVolume> listHidden() {
    Listing listing = list(2, true);
    List<HiddenVolume> result = new ArrayList<>();
    for (ZfsDataset d : listing.hidden()) {
      List<ZfsDataset> snapshots = listing.snapshotsOf(d.name());
      int csiSnapshots = (int) snapshots.stream().filter(ZfsDataset::isCsiSnapshot).count();
      int clones = snapshots.stream().mapToInt(s -> s.clones().size()).sum();
      result.add(new HiddenVolume(d.leafName(), listing.volumeName(d), d.used(),
          Instant.ofEpochSecond(d.creation()), metadata(d), csiSnapshots, clones));
    }
    return result;
  }

  /** A snapshot as the API lists it, under the volume ID of {@code volidName}. */
  private SnapshotInfo snapshotInfo(String volidName, ZfsDataset volume, ZfsDataset snap) {
    SnapshotId id = new SnapshotId(new VolumeId(storeId(), volidName),
        snap.snapName().orElseThrow());
    return new SnapshotInfo(id, snap.restoreSize(volume), Instant.ofEpochSecond(snap.creation()),
        snap.snapshotCsiName().map(VolumeMetadata::of));
  }

  @Override
  public SizeInfo volumeSizeInfo(String volname) {
    Volname v = parseVolname(volname);
    ZfsDataset d = one(v.name());
    return new SizeInfo(d.provisionedBytes(), d.format(), d.usedByDataset(),
        d.origin().map(o -> Listing.relative(pool, o)));
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
   *
   * <p>Hidden (deleted) volumes are not provisioned: they can no longer be written (no volume
   * ID names them, their reservation is released), so they will never grow into the pool. What
   * they hold is shared with their snapshots and already counted in the pool's {@code used},
   * which the data limit and {@code total} take into account; a restore from one of their
   * snapshots is counted as the new volume it is.
   */
  @Override
  public PoolStatus status() {
    return ZfsCapacity.of(list(1, false), storage);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Two commands: {@code zfs list ... -t filesystem,volume,snapshot -r -d 2 <pool>} (the
   * listing of {@link #listSnapshots}; its first two levels give the status exactly as
   * {@link #status} computes it, and the counts), then {@code zpool list -H -o health <zpool>}
   * for the zpool the dataset lives in. Neither tool reports datasets and pool health in one
   * call. The snapshots of deleted volumes are counted: they are CSI snapshots still listed.
   */
  @Override
  public PoolInventory inventory() {
    Listing listing = list(2, true);
    PoolStatus status = ZfsCapacity.of(listing, storage);
    return new PoolInventory(status, listing.children().size(),
        listing.listedSnapshots().size(), Optional.of(health()));
  }

  /** The zpool's health word ({@code ONLINE}, {@code DEGRADED}, ...). */
  private String health() {
    String zpool = pool.split("/", 2)[0];
    CommandResult result = zfs.mustRun(ZfsCommands.zpoolHealth(zpool),
        "cannot read the health of zpool " + zpool + " (storage " + storeId() + ")");
    String health = result.stdoutText().strip();
    if (!HEALTH.matcher(health).matches()) {
      throw new StorageException(ErrorKind.INTERNAL, "zpool list -o health " + zpool
          + " answered '" + health + "', not one health word");
    }
    return health;
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
    ZfsNames.requireOwner(owner);
    if (format == null) {
      throw new StorageException(ErrorKind.INVALID, "no format given (raw or subvol)");
    }
    long size = validSize(sizeBytes, format, blockUnit(OptionalLong.empty()));
    List<String> props = ZfsCommands.metadataOptions(metadata, false);
    name.ifPresent(n -> ZfsNames.requireNewName(n, format, owner));
    Listing listing = list(1, false);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    ZfsCapacity.requireRoom(listing, storage, size, "a new volume");
    String volname = name.isPresent() ? name.get() : freeName(listing, owner, format);
    String ds = dataset(volname);
    List<String> argv = format == ImageFormat.RAW
        ? ZfsCommands.createZvol(storage.sparse(), storage.blockSizeBytes(), props, size, ds)
        : ZfsCommands.createDataset(size, props, ds);
    zfs.mustRun(argv, "cannot create " + format.pveName() + " volume " + volname);
    if (format == ImageFormat.RAW) {
      awaitLinkOrUndo(volname);
    }
    return volname;
  }

  /**
   * Waits for the device link of a zvol this call has just made. When udev never makes it, the
   * zvol is destroyed again before the call fails: the create answered an error, so nothing may
   * stay behind that the CO does not know of (a PVC deleted meanwhile would leave it for good),
   * and a retry creates it anew and waits again. PVE's alloc_image leaves the zvol; PVE then
   * has a guest config that names it, which a CSI volume only gets from a successful create.
   * An interrupted wait (a cancelled call) keeps the zvol: its retry finds and adopts it.
   */
  private void awaitLinkOrUndo(String name) {
    try {
      links.await(name);
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.UNAVAILABLE) {
        throw e;
      }
      try {
        zfs.destroy(ZfsCommands.destroyDataset(dataset(name)), "cannot destroy zvol " + name
            + " again after its device link never appeared");
      } catch (RuntimeException cleanup) {
        e.addSuppressed(cleanup);
        throw e;
      }
      throw new StorageException(ErrorKind.UNAVAILABLE, e.getMessage() + "; the zvol was "
          + "destroyed again, nothing is left behind. udev makes the /dev/zvol links (rule "
          + "60-zvol.rules, program zvol_id): check that udev runs and sees zvol events", e);
    }
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
   * The snapshot may be one of a deleted volume of that name (see the class comment); the
   * clone keeps its origin snapshot pinned, which deletes cope with.
   */
  @Override
  public String cloneImage(String volname, long owner, Optional<String> snapshot,
      Optional<String> name, Optional<VolumeMetadata> metadata) {
    Volname source = parseVolname(volname);
    ZfsNames.requireOwner(owner);
    String snap;
    if (snapshot.isPresent()) {
      snap = ZfsNames.requireSnapshot(snapshot.get(), true);
    } else {
      if (!source.isBase()) {
        throw new StorageException(ErrorKind.PRECONDITION, "clone_image of '" + volname
            + "' needs a snapshot: only base volumes can be cloned without one");
      }
      snap = ZfsNames.BASE_SNAPSHOT;
    }
    List<String> props = new ArrayList<>(ZfsCommands.metadataOptions(metadata, false));
    Listing listing = list(2, true);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    if (!listing.hasVolume(source.name())) {
      throw new StorageException(ErrorKind.NOT_FOUND, "volume " + volname
          + " does not exist in storage " + storeId());
    }
    Listing.Listed origin = listing.resolveSnapshot(source.name(), snap).orElseThrow(() ->
        new StorageException(ErrorKind.NOT_FOUND, "snapshot " + snap + " of volume " + volname
            + " does not exist in storage " + storeId()));
    ZfsDataset sourceRow = origin.volume();
    ZfsDataset snapRow = origin.snapshot();
    String target = name.isPresent()
        ? ZfsNames.requireNewName(name.get(), source.format(), owner)
        : freeName(listing, owner, source.format());
    ZfsCapacity.requireRoom(listing, storage, snapRow.restoreSize(sourceRow),
        "a clone of " + volname + "@" + snap);
    if (source.format() == ImageFormat.SUBVOL) {
      long quota = snapRow.recordedRefquota().orElse(0);
      if (quota == 0) {
        quota = sourceRow.refquota().orElse(0);
      }
      props.addAll(ZfsCommands.option("refquota", quota == 0 ? "none" : Long.toString(quota)));
    } else if (!storage.sparse()) {
      props.addAll(ZfsCommands.option("refreservation", "auto"));
    }
    zfs.mustRun(ZfsCommands.clone(props, snapRow.name(), dataset(target)),
        "cannot clone " + volname + "@" + snap + " to " + target);
    if (source.format() == ImageFormat.RAW) {
      awaitLinkOrUndo(target);
    }
    boolean linked = snap.equals(ZfsNames.BASE_SNAPSHOT) && source.isBase();
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
    String newName = ZfsNames.baseName(v);
    Listing listing = list(2, true);
    Optional<ZfsDataset> current = listing.get(dataset(v.name()));
    Optional<ZfsDataset> renamed = listing.get(dataset(newName));
    ZfsDataset row;
    if (current.isPresent()) {
      if (renamed.isPresent()) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, "cannot create base " + newName
            + ": it exists already next to " + volname);
      }
      zfs.mustRun(ZfsCommands.rename(dataset(v.name()), dataset(newName)),
          "cannot rename " + volname + " to " + newName);
      row = current.get();
    } else if (renamed.isPresent()
        && listing.get(dataset(newName) + "@" + ZfsNames.BASE_SNAPSHOT).isEmpty()) {
      row = renamed.get(); // a crash after the rename: finish the job
    } else {
      throw new StorageException(ErrorKind.NOT_FOUND,
          "volume " + volname + " does not exist in storage " + storeId());
    }
    List<String> props = v.format() == ImageFormat.SUBVOL
        ? recordedRefquota(row) : List.of();
    zfs.mustRun(ZfsCommands.snapshot(props, dataset(newName) + "@" + ZfsNames.BASE_SNAPSHOT),
        "cannot snapshot base " + newName);
    return v.baseName().map(b -> b + "/").orElse("") + newName;
  }

  // ---- golden images ----------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>One listing with snapshots. A golden image is a live {@code base-}/{@code basevol-}
   * dataset with a CSI name and its {@code @__base__}; its source is the volume whose snapshot
   * it was cloned from ({@code origin}), by the name that volume has or, deleted and hidden,
   * had. The size is the one a clone of {@code @__base__} needs.
   */
  @Override
  public List<SnapshotInfo> listGoldenImages() {
    Listing listing = list(2, true);
    List<SnapshotInfo> golden = new ArrayList<>();
    for (ZfsDataset d : listing.children()) {
      goldenImage(listing, d).ifPresent(golden::add);
    }
    golden.sort(Comparator.comparing(s -> s.id().toString()));
    return golden;
  }

  private Optional<SnapshotInfo> goldenImage(Listing listing, ZfsDataset d) {
    Optional<ZfsDataset> baseSnapshot = listing.get(d.name() + "@" + ZfsNames.BASE_SNAPSHOT);
    if (d.csiName().isEmpty() || baseSnapshot.isEmpty() || !parseVolname(d.leafName()).isBase()) {
      return Optional.empty();
    }
    Optional<VolumeId> source = d.origin()
        .flatMap(o -> listing.get(o.substring(0, o.indexOf('@'))))
        .map(origin -> new VolumeId(storeId(), listing.volidName(origin)));
    return Optional.of(new SnapshotInfo(
        new SnapshotId(new VolumeId(storeId(), listing.volidName(d)), SnapshotInfo.GOLDEN),
        baseSnapshot.get().restoreSize(d), Instant.ofEpochSecond(d.creation()), metadata(d),
        source));
  }

  /**
   * {@inheritDoc}
   *
   * <p>PVE's {@code create_base} would rename the source itself; a golden image leaves the
   * source alone and makes the base from a snapshot of it, with PVE's own commands, in a storage
   * state a crash after any of them leaves convergent:
   *
   * <ol>
   *   <li>one listing with snapshots answers the retry (a base with the CSI name: only its
   *       missing {@code @__base__} is taken), the source (a live volume with a CSI name, not a
   *       base) and the base's name ({@code base-<owner>-disk-N}, PVE's numbering);
   *   <li>{@code zfs snapshot [-o pve-storage:refquota=<bytes>] <source>@clone-of-<base>}, a
   *       snapshot without CSI name, skipped when a cut-off attempt left it; one that stays
   *       without clone is a stale PVC-clone snapshot the reaper of the next delete removes;
   *   <li>{@code zfs clone -o <CSI name...> -o readonly=on [-o refquota=<bytes>]
   *       <source>@clone-of-<base> <base>}: the base, owned from the command that makes it;
   *   <li>{@code zfs snapshot [-o pve-storage:refquota=<bytes>] <base>@__base__}, which PVE's
   *       linked clones ({@code base-N-disk-M/vm-K-disk-J}) and {@link #cloneImage} use.
   * </ol>
   *
   * <p>The base is a clone, so it pins the source's snapshot, but it never keeps the source
   * from being deleted: a delete hides a volume whose snapshot has clones ({@link
   * ZfsDeletion}), and the reaper destroys it with the last base made from it. The clone shares
   * the source's blocks, so making a base costs no copy and no space until either is written.
   */
  @Override
  public SnapshotInfo goldenImageOwn(String volname, VolumeMetadata metadata) {
    Volname v = parseVolname(volname);
    Listing listing = list(2, true);
    for (ZfsDataset d : listing.children()) {
      if (d.csiName().filter(metadata.csiName()::equals).isPresent()
          && parseVolname(d.leafName()).isBase()) {
        if (listing.get(d.name() + "@" + ZfsNames.BASE_SNAPSHOT).isEmpty()) {
          takeBaseSnapshot(d.name(), d.isVolume() ? List.of() : recordedRefquota(d));
          return readGoldenImage(d.name());
        }
        return goldenImage(listing, d).orElseThrow();
      }
    }
    VolumeId sourceId = new VolumeId(storeId(), volname);
    ZfsDataset source = listing.get(dataset(v.name())).filter(d -> !listing.isHidden(d))
        .orElseThrow(() -> StoragePlugin.sourceMissing(sourceId));
    if (source.csiName().isEmpty()) {
      throw StoragePlugin.notOurs("source volume " + sourceId + " was not created by this "
          + "driver", "made a base of");
    }
    if (v.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION, volname + " is a base volume already; "
          + "a golden image is made from an ordinary volume");
    }
    String base = ZfsNames.baseName(parseVolname(freeName(listing, v.owner(), v.format())));
    String origin = source.name() + "@" + VolumeNames.cloneSnapshotFor(base);
    List<String> quota = v.format() == ImageFormat.SUBVOL ? recordedRefquota(source) : List.of();
    if (listing.get(origin).isEmpty()) {
      zfs.mustRun(ZfsCommands.snapshot(quota, origin), "cannot snapshot " + volname
          + " for base " + base);
    }
    List<String> props = new ArrayList<>(ZfsCommands.metadataOptions(Optional.of(metadata),
        false));
    props.addAll(ZfsCommands.option("readonly", "on"));
    if (v.format() == ImageFormat.SUBVOL) {
      long bytes = source.refquota().orElse(0);
      props.addAll(ZfsCommands.option("refquota", bytes == 0 ? "none" : Long.toString(bytes)));
    }
    zfs.mustRun(ZfsCommands.clone(props, origin, dataset(base)),
        "cannot make base " + base + " of " + volname);
    takeBaseSnapshot(dataset(base), quota);
    return readGoldenImage(dataset(base));
  }

  /** {@code zfs snapshot [-o pve-storage:refquota=<bytes>] <base>@__base__}, as PVE's. */
  private void takeBaseSnapshot(String base, List<String> quota) {
    zfs.mustRun(ZfsCommands.snapshot(quota, base + "@" + ZfsNames.BASE_SNAPSHOT),
        "cannot snapshot base " + base);
  }

  /** The golden image a base just made is, from a listing made after it. */
  private SnapshotInfo readGoldenImage(String base) {
    Listing after = list(2, true);
    return after.get(base).flatMap(d -> goldenImage(after, d)).orElseThrow(() ->
        new StorageException(ErrorKind.INTERNAL, "base " + base + " was made but is not "
            + "listed as a golden image"));
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
    String snap = ZfsNames.requireSnapshot(snapshot, false);
    List<String> props = new ArrayList<>(ZfsCommands.metadataOptions(metadata, true));
    if (v.format() == ImageFormat.SUBVOL) {
      props.addAll(recordedRefquota(one(v.name())));
    }
    zfs.mustRun(ZfsCommands.snapshot(props, dataset(v.name()) + "@" + snap),
        "cannot snapshot " + volname + "@" + snap);
  }

  /**
   * {@inheritDoc}
   *
   * <p>One listing with snapshots answers the retry (a snapshot with the CSI name), the source
   * (a live volume with a CSI name) and, for a dataset, its refquota; then {@link
   * #volumeSnapshot}'s {@code zfs snapshot}, and {@code zfs list -t snapshot} of the new
   * snapshot alone for its creation time. Three commands where the lookups before the lock and
   * the listing after it took four or five.
   */
  @Override
  public SnapshotInfo snapshotOwn(String volname, String snapshot, VolumeMetadata metadata) {
    Volname v = parseVolname(volname);
    String snap = ZfsNames.requireSnapshot(snapshot, false);
    Listing listing = list(2, true);
    for (Listing.Listed listed : listing.listedSnapshots()) {
      if (listed.snapshot().snapshotCsiName().filter(metadata.csiName()::equals).isPresent()) {
        return snapshotInfo(listing.volidName(listed.volume()), listed.volume(),
            listed.snapshot());
      }
    }
    VolumeId source = new VolumeId(storeId(), volname);
    ZfsDataset volume = listing.children().stream()
        .filter(d -> d.name().equals(dataset(v.name()))).findFirst()
        .orElseThrow(() -> StoragePlugin.sourceMissing(source));
    if (volume.csiName().isEmpty()) {
      throw StoragePlugin.notOurs("source volume " + source + " was not created by this driver",
          "snapshotted");
    }
    List<String> props = new ArrayList<>(ZfsCommands.metadataOptions(Optional.of(metadata), true));
    if (v.format() == ImageFormat.SUBVOL) {
      props.addAll(recordedRefquota(volume));
    }
    String name = dataset(v.name()) + "@" + snap;
    zfs.mustRun(ZfsCommands.snapshot(props, name), "cannot snapshot " + volname + "@" + snap);
    CommandResult taken = zfs.mustRun(ZfsCommands.listSnapshot(name),
        "cannot read snapshot " + volname + "@" + snap);
    List<ZfsDataset> rows = ZfsListParser.parse(taken.stdoutText());
    if (rows.size() != 1) {
      throw new StorageException(ErrorKind.INTERNAL, "zfs list of " + name + " gave "
          + rows.size() + " rows");
    }
    return snapshotInfo(listing.volidName(volume), volume, rows.get(0));
  }

  /** PVE's {@code -o pve-storage:refquota=<bytes>} for a snapshot of a dataset (fix #6561). */
  private static List<String> recordedRefquota(ZfsDataset dataset) {
    return ZfsCommands.option(ZfsListParser.PVE_REFQUOTA,
        Long.toString(dataset.refquota().orElse(0)));
  }

  /**
   * {@inheritDoc}
   *
   * <p>One listing; the snapshot is found as {@link #listSnapshots} lists it (the live
   * volume's, else a deleted volume's). No clones: {@code zfs destroy <dataset>@<snap>} (busy
   * retried). With clones: {@code zfs rename <...>@<snap> <...>@__deleted_<guid>}, a tombstone
   * the reaper destroys when the last clone goes, so this never fails because of clones. Then
   * the reaper runs ({@link ZfsDeletion}); deleting the last CSI snapshot of a deleted volume
   * destroys that volume.
   */
  @Override
  public void volumeSnapshotDelete(String volname, String snapshot) {
    Volname v = parseVolname(volname);
    String snap = ZfsNames.requireSnapshot(snapshot, false);
    Listing listing = list(2, true);
    deletion.deleteSnapshot(listing,
        listing.resolveSnapshot(v.name(), snap).map(Listing.Listed::snapshot));
  }

  /**
   * {@inheritDoc}
   *
   * <p>The snapshot is resolved, and its CSI name read, in the listing the delete works from:
   * one listing, then {@link #volumeSnapshotDelete}'s destroy or rename. A name the API never
   * lists ({@code __base__}, a tombstone) names nothing.
   */
  @Override
  public void deleteOwnSnapshot(String volname, String snapshot) {
    Volname v = parseVolname(volname);
    if (snapshot == null || !ZfsNames.isListedSnapshot(snapshot)) {
      return;
    }
    Listing listing = list(2, true);
    Optional<ZfsDataset> snap = listing.resolveSnapshot(v.name(), snapshot)
        .map(Listing.Listed::snapshot);
    if (snap.isPresent() && snap.get().snapshotCsiName().isEmpty()) {
      throw StoragePlugin.notTakenByTheDriver(
          new SnapshotId(new VolumeId(storeId(), volname), snapshot));
    }
    deletion.deleteSnapshot(listing, snap);
  }

  // ---- delete -----------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>One listing. Without CSI snapshots and clones: {@code zfs destroy -r <pool>/<name>}
   * (busy retried, "does not exist" is success); a filesystem with snapshots is unmounted first
   * ({@code zfs unmount}, busy retried), a zvol with snapshots is marked and renamed as below
   * and then destroyed under its hidden name, and if that stays busy the reaper of a later
   * delete destroys it (so a volume in use never loses its snapshots to a failed delete).
   * Otherwise the volume is hidden: {@code zfs
   * destroy} of the snapshots nothing needs, {@code zfs rename} of cloned ones to tombstones,
   * {@code zfs set pve-storage.csi.io:deleted-volname=<name> refreservation=none|canmount=off},
   * {@code zfs rename <pool>/<name> <pool>/csi-deleted-<guid>} ({@link ZfsDeletion}). The CSI
   * snapshots stay usable under their IDs. Then the reaper. Never PRECONDITION because of
   * snapshots or clones; PRECONDITION when still busy (or, a filesystem with snapshots, in use)
   * after {@link Options#busyAttempts()} attempts.
   */
  @Override
  public void freeImage(String volname) {
    Volname v = parseVolname(volname);
    deletion.freeVolume(list(2, true), v.name(), volname);
  }

  /**
   * {@inheritDoc}
   *
   * <p>The CSI name is read from the row of the listing {@link #freeImage} works from: one
   * listing in all.
   */
  @Override
  public void freeOwnImage(String volname) {
    Volname v = parseVolname(volname);
    Listing listing = list(2, true);
    Optional<ZfsDataset> volume = listing.get(dataset(v.name()));
    if (volume.isPresent() && volume.get().csiName().isEmpty()) {
      throw StoragePlugin.notCreatedByTheDriver(new VolumeId(storeId(), volname));
    }
    deletion.freeVolume(listing, v.name(), volname);
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
    long current = row.provisionedBytes();
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
    ZfsCapacity.requireRoom(listing, storage, rounded - current, "the growth of " + volname);
    zfs.mustRun(ZfsCommands.setSize(raw, rounded, dataset(v.name())),
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
      ZfsNames.requireSnapshot(snapshot.get(), true);
      return;
    }
    if (v.format() == ImageFormat.RAW) {
      links.await(v.name());
      return;
    }
    String ds = dataset(v.name());
    CommandResult mounted = zfs.mustRun(ZfsCommands.getMounted(ds),
        "cannot read whether " + volname + " is mounted");
    if (!mounted.stdoutText().strip().equals("yes")) {
      CommandResult mount = zfs.run(ZfsCommands.mount(ds));
      if (!mount.succeeded() && !mount.stderrText().contains("already mounted")) {
        throw ZfsErrors.failure(mount, "cannot mount " + volname);
      }
    }
  }

  /** A no-op, as in PVE: zvols and datasets stay available; nothing is unmounted here. */
  @Override
  public void deactivateVolume(String volname, Optional<String> snapshot) {
    parseVolname(volname);
    snapshot.ifPresent(s -> ZfsNames.requireSnapshot(s, true));
  }

  // ---- helpers ----------------------------------------------------------------------------

  /**
   * One {@code zfs list} of the pool dataset and its children ({@code depth} 1), or also their
   * snapshots ({@code depth} 2, snapshots on).
   */
  private Listing list(int depth, boolean snapshots) {
    CommandResult result = zfs.mustRun(ZfsCommands.list(pool, depth, snapshots),
        "cannot list storage " + storeId());
    return new Listing(pool, ZfsListParser.parse(result.stdoutText()));
  }

  /** One dataset by name, with the listing columns. */
  private ZfsDataset one(String name) {
    CommandResult result = zfs.mustRun(ZfsCommands.listOne(dataset(name)),
        "cannot read volume " + name);
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

  /**
   * ALREADY_EXISTS when a volume of this storage already carries the CSI name. Deleted (hidden)
   * volumes keep theirs but do not count: the name is free once its volume is deleted.
   */
  private void requireCsiNameFree(Listing listing, VolumeMetadata metadata) {
    for (ZfsDataset d : listing.rows()) {
      if (!d.isSnapshot() && !listing.isHidden(d)
          && d.csiName().filter(metadata.csiName()::equals).isPresent()) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, "CSI name '" + metadata.csiName()
            + "' already belongs to volume '" + listing.relative(d.name()) + "' of storage '"
            + storeId() + "'");
      }
    }
  }

  private static Optional<VolumeMetadata> metadata(ZfsDataset d) {
    return d.csiName().map(n -> new VolumeMetadata(n, d.pvcNamespace(), d.pvcName(), d.pvName()));
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
}
