package io.csi.pvestorage.storage.lvmthin;

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
import io.csi.pvestorage.storage.Volname;
import io.csi.pvestorage.storage.config.LvmThinStorage;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code lvmthin} storage: thin volumes in one thin pool of one VG, with the behaviour of
 * PVE's LvmThinPlugin (pve-storage-semantics.md sections 1.2, 1.5, 2 and 7).
 *
 * <p>Every LVM command goes through the injected {@link CommandRunner} as an argv
 * ({@link LvmCommands}); every listing is <b>one</b> {@code lvs} call over the VG, parsed from
 * JSON ({@link LvmReportParser}); failures are classified by {@link LvmErrors}. Names and sizes
 * are validated before any command runs.
 *
 * <p>Where this backend deliberately differs from PVE:
 *
 * <ul>
 *   <li>The CSI metadata is recorded as LV tags ({@link LvTags}) in the creating
 *       {@code lvcreate} (alloc, clone, snapshot).
 *   <li>Listings cover the configured VG only (PVE lists every VG and filters by pool name
 *       alone, so a same-named pool in another VG would leak in).
 *   <li>{@link #allocImage}, {@link #cloneImage} and growing {@link #volumeResize} refuse with
 *       EXHAUSTED what the {@link ThinCapacity capacity policy} does not allow (PVE checks no
 *       free space at all). Snapshots are not refused: they cost nothing until written.
 *   <li>{@link #volumeResize} compares the extent-rounded request with the current size first:
 *       equal is a no-op, smaller is OUT_OF_RANGE; only a larger size runs {@code lvextend}
 *       (which itself refuses a size that is not larger).
 *   <li>{@link #volumeSnapshotDelete} is idempotent (PVE's dies on a missing LV).
 *   <li>{@link #createBase} refuses a volume with snapshots of any valid snapshot name (PVE
 *       matches {@code \w+} there and misses names with '-').
 *   <li>{@code lvremove} is retried ({@value #REMOVE_ATTEMPTS} attempts,
 *       {@link #REMOVE_RETRY_DELAY} apart) while LVM reports the LV in use, since udev probes
 *       a device for a moment after it changes; a mounted LV still fails, with PRECONDITION.
 *   <li>{@link #volumeSizeInfo} reports the data in use ({@code data_percent}); PVE reports 0.
 *   <li>{@link #cloneImage} may be given the new name.
 *   <li>{@link #freeImage} keeps the snapshots that carry a CSI name (PVE removes every snapshot
 *       LV of the volume); they stay usable without their origin. It also removes what PVC
 *       clones left behind ({@link VolumeNames#isCloneSnapshotName}).
 *   <li>The capacity is never read from an inactive pool: it is activated first, as PVE's
 *       {@code activate_storage} does before it lists.
 * </ul>
 *
 * <p>Thin snapshots and clones are independent of their origin: any of them can be deleted in
 * any order, so no dependency is tracked and {@link ImageInfo#parent()} stays empty.
 */
public final class LvmThinPlugin implements StoragePlugin {

  /** How often {@code lvremove} runs while the LV is reported in use. */
  static final int REMOVE_ATTEMPTS = 3;
  /** The wait between those attempts. */
  static final Duration REMOVE_RETRY_DELAY = Duration.ofMillis(500);

  /** LVM's longest LV name. */
  static final int MAX_LV_NAME = 127;

  /** PVE's {@code parse_lvm_name}. */
  private static final Pattern LVM_NAME =
      Pattern.compile("[a-z0-9][a-z0-9\\-_.]*[a-z0-9]", Pattern.CASE_INSENSITIVE);
  /** PVE's lvmthin {@code parse_volname}. */
  private static final Pattern VOLNAME = Pattern.compile("(vm|base)-(\\d+)-\\S+");
  /** What {@code list_images} keeps (PVE matches only this prefix). */
  private static final Pattern IMAGE_PREFIX = Pattern.compile("^(vm|base)-(\\d+)-");

  private static final System.Logger LOG = System.getLogger(LvmThinPlugin.class.getName());

  private final LvmThinStorage storage;
  private final CommandRunner runner;
  private final Sleeper sleeper;
  /** The VG's extent size as the last listing showed it; 0 before any listing. */
  private volatile long knownExtentSize;

  public LvmThinPlugin(LvmThinStorage storage, CommandRunner runner) {
    this(storage, runner, d -> Thread.sleep(d.toMillis()));
  }

  public LvmThinPlugin(LvmThinStorage storage, CommandRunner runner, Sleeper sleeper) {
    this.storage = Objects.requireNonNull(storage, "storage");
    this.runner = Objects.requireNonNull(runner, "runner");
    this.sleeper = Objects.requireNonNull(sleeper, "sleeper");
  }

  @Override
  public long defaultOwner() {
    return storage.common().owner();
  }

  @Override
  public String storeId() {
    return storage.storeId();
  }

  @Override
  public String type() {
    return "lvmthin";
  }

  @Override
  public List<ImageFormat> formats() {
    return List.of(ImageFormat.RAW);
  }

  private String vg() {
    return storage.vgName();
  }

  private String thinPool() {
    return storage.thinPool();
  }

  // ---- names ---------------------------------------------------------------------------------

  /**
   * PVE's rule: an LVM name ({@code [a-z0-9][a-z0-9-_.]*[a-z0-9]}, case-insensitive, so a
   * {@code base/clone} form fails), then {@code (vm|base)-<owner>-<anything>}. Always raw;
   * never a base name or base owner (thin clones do not record their origin). Additionally at
   * most {@value #MAX_LV_NAME} characters, LVM's limit.
   */
  @Override
  public Volname parseVolname(String volname) {
    if (volname == null || volname.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "the volume name is empty");
    }
    if (volname.length() > MAX_LV_NAME || !LVM_NAME.matcher(volname).matches()) {
      throw new StorageException(ErrorKind.INVALID, "'" + volname + "' is not a volume name of "
          + "lvmthin storage '" + storeId() + "': expected letters, digits, '-', '_' or '.', "
          + "starting and ending with a letter or digit, at most " + MAX_LV_NAME + " characters");
    }
    Matcher m = VOLNAME.matcher(volname);
    if (!m.matches()) {
      throw new StorageException(ErrorKind.INVALID, "'" + volname + "' is not a volume name of "
          + "lvmthin storage '" + storeId() + "': expected vm-<owner>-<name> or base-<owner>-<name>");
    }
    long owner;
    try {
      owner = Long.parseLong(m.group(2));
    } catch (NumberFormatException e) {
      throw new StorageException(ErrorKind.INVALID, "the owner ID in '" + volname + "' is too large");
    }
    return new Volname(volname, owner, Optional.empty(), OptionalLong.empty(),
        m.group(1).equals("base"), ImageFormat.RAW);
  }

  private static String checkSnapshot(String snapshot) {
    if (snapshot == null || !SnapshotId.SNAP_NAME.matcher(snapshot).matches()) {
      throw new StorageException(ErrorKind.INVALID, "'" + snapshot + "' is not a snapshot name: "
          + "expected a letter, then letters, digits, '_' or '-', 2 to 40 characters");
    }
    return snapshot;
  }

  /** The LV of a snapshot, {@code snap_<volname>_<snapshot>}, within LVM's name limit. */
  static String snapshotLv(String volname, String snapshot) {
    String lv = "snap_" + volname + "_" + snapshot;
    if (lv.length() > MAX_LV_NAME) {
      throw new StorageException(ErrorKind.INVALID, "snapshot '" + snapshot + "' of '" + volname
          + "' would need the LV name '" + lv + "', longer than LVM's " + MAX_LV_NAME
          + " characters");
    }
    return lv;
  }

  private static void checkOwner(long owner) {
    if (owner < 0) {
      throw new StorageException(ErrorKind.INVALID, "owner ID " + owner + " is negative");
    }
  }

  private static void checkRaw(ImageFormat format) {
    if (format != ImageFormat.RAW) {
      throw new StorageException(ErrorKind.INVALID, "unsupported format '" + format.pveName()
          + "': lvmthin storage holds raw volumes only");
    }
  }

  /** A requested new name: a valid volname of the form {@code vm-<owner>-*}. */
  private String checkNewName(String name, long owner) {
    Volname parsed = parseVolname(name);
    if (parsed.isBase() || parsed.owner() != owner || !name.startsWith("vm-" + owner + "-")) {
      throw new StorageException(ErrorKind.INVALID,
          "illegal name '" + name + "' - should be 'vm-" + owner + "-*'");
    }
    return name;
  }

  /** Bytes to whole KiB, rounded up (LVM's {@code k} unit); overflow cannot happen. */
  private static long toKib(long bytes) {
    if (bytes <= 0) {
      throw new StorageException(ErrorKind.INVALID, "size must be positive, got " + bytes + " bytes");
    }
    return Math.ceilDiv(bytes, 1024L);
  }

  // ---- listing -------------------------------------------------------------------------------

  /** One {@code lvs} report of the VG. */
  private record Listing(List<LogicalVolume> volumes) {

    Optional<LogicalVolume> find(String name) {
      return volumes.stream().filter(lv -> lv.name().equals(name)).findFirst();
    }

    List<String> names() {
      return volumes.stream().map(LogicalVolume::name).toList();
    }
  }

  private Listing list() {
    CommandResult result = runner.run(LvmCommands.lvs(vg()));
    if (!result.succeeded()) {
      throw LvmErrors.failure(result, "cannot list the LVs of volume group '" + vg() + "'");
    }
    return new Listing(LvmReportParser.parse(result.stdoutText()));
  }

  /**
   * One listing in which the thin pool is active. LVM reports no usage for an inactive pool
   * (empty {@code data_percent} and {@code metadata_percent}), which would count as an empty
   * pool and let any volume through the capacity check. PVE activates the pool before it uses
   * it ({@code activate_storage}, 6fbffac), and so does this: {@code lvchange -ay -K VG/POOL},
   * then a second listing. Activation writes no metadata and LVM serialises it with its own VG
   * lock, so it also runs in the unlocked reads ({@link #status}, {@link #inventory}), as in
   * PVE's {@code storage_info}. A missing pool is left to {@link #requirePool}.
   *
   * @throws StorageException UNAVAILABLE naming the pool and the command to run, when the
   *     activation fails or the pool stays inactive
   */
  private Listing listWithActivePool() {
    Listing listing = list();
    Optional<LogicalVolume> pool = listing.find(thinPool())
        .filter(lv -> lv.attr().volumeType() == LvAttr.VolumeType.THIN_POOL);
    if (pool.isEmpty() || pool.get().attr().active()) {
      return listing;
    }
    String inactive = "thin pool '" + vg() + "/" + thinPool() + "' of storage '" + storeId()
        + "' is inactive, and LVM reports no usage for an inactive pool";
    String fix = "check it with 'lvs -a " + vg() + "' (a damaged pool needs 'lvconvert --repair "
        + vg() + "/" + thinPool() + "') and activate it with 'lvchange -ay -K " + vg() + "/"
        + thinPool() + "'";
    CommandResult result = runner.run(LvmCommands.activate(vg(), thinPool()));
    if (!result.succeeded()) {
      throw result.failure(ErrorKind.UNAVAILABLE, inactive + "; activating it failed ("
          + LvmErrors.lastLine(result) + "): " + fix);
    }
    LOG.log(Level.INFO, "activated thin pool {0}/{1}, which was inactive", vg(), thinPool());
    Listing again = list();
    if (!requirePool(again).attr().active()) {
      throw new StorageException(ErrorKind.UNAVAILABLE, inactive + ", and it is still inactive "
          + "after 'lvchange -ay -K': " + fix);
    }
    return again;
  }

  private LogicalVolume requirePool(Listing listing) {
    LogicalVolume pool = listing.find(thinPool())
        .filter(lv -> lv.attr().volumeType() == LvAttr.VolumeType.THIN_POOL)
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "thin pool '" + vg() + "/"
            + thinPool() + "' of storage '" + storeId() + "' does not exist"));
    pool.extentSizeBytes().ifPresent(size -> knownExtentSize = size);
    return pool;
  }

  /** The volume as a thin LV of this pool, or NOT_FOUND. */
  private LogicalVolume requireVolume(Listing listing, String volname) {
    return listing.find(volname)
        .filter(lv -> lv.isThinVolumeIn(thinPool()))
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "volume '" + volname
            + "' does not exist in thin pool '" + vg() + "/" + thinPool() + "'"));
  }

  private void requireAbsent(Listing listing, String lv) {
    if (listing.find(lv).isPresent()) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, "an LV named '" + lv
          + "' already exists in volume group '" + vg() + "'");
    }
  }

  /** ALREADY_EXISTS when a volume of this pool already carries the CSI name. */
  private void requireCsiNameFree(Listing listing, VolumeMetadata metadata) {
    for (LogicalVolume lv : listing.volumes()) {
      if (lv.isThinVolumeIn(thinPool()) && snapshotRef(lv).isEmpty()
          && LvTags.decode(lv.tags()).map(m -> m.csiName().equals(metadata.csiName()))
              .orElse(false)) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, "CSI name '" + metadata.csiName()
            + "' already belongs to volume '" + lv.name() + "' of storage '" + storeId() + "'");
      }
    }
  }

  /** EXHAUSTED unless the policy allows {@code moreBytes} of new virtual size. */
  private void requireRoom(Listing listing, long moreBytes, String what) {
    PoolStatus status = statusOf(listing);
    if (moreBytes > status.allocatableBytes()) {
      var policy = storage.common().capacity();
      throw new StorageException(ErrorKind.EXHAUSTED, "thin pool '" + vg() + "/" + thinPool()
          + "' cannot take " + what + " (" + moreBytes + " bytes): "
          + ThinCapacity.whyNoRoom(requirePool(listing), status, policy) + "; "
          + status.allocatableBytes()
          + " bytes are allocatable under the capacity policy (overcommit " + policy.overcommit()
          + ", data limit " + policy.dataLimitPercent() + " %, metadata limit "
          + policy.metadataLimitPercent() + " %; pool " + status.totalBytes() + " bytes, "
          + status.usedBytes() + " used, " + status.provisionedBytes() + " provisioned)");
    }
  }

  private static long roundUp(long bytes, long unit) {
    try {
      return Math.multiplyExact(Math.ceilDiv(bytes, unit), unit);
    } catch (ArithmeticException e) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, bytes + " bytes is too large a size");
    }
  }

  private static long extentSize(LogicalVolume lv) {
    return lv.extentSizeBytes().orElseThrow(() -> new StorageException(ErrorKind.INTERNAL,
        "lvs reported no vg_extent_size for " + lv.vg() + "/" + lv.name()));
  }

  private CommandResult run(Command command, String doing) {
    CommandResult result = runner.run(command);
    if (!result.succeeded()) {
      throw LvmErrors.failure(result, doing);
    }
    return result;
  }

  /** Runs a command whose failure PVE only warns about. */
  private void runBestEffort(Command command, String why) {
    CommandResult result = runner.run(command);
    if (!result.succeeded()) {
      LOG.log(Level.WARNING, "{0} failed ({1}), continuing: {2}", command.display(), why,
          result.stderrText().strip());
    }
  }

  /**
   * {@code lvremove -f}; a missing LV is success, an LV in use is retried and then
   * PRECONDITION.
   */
  private void remove(String lv) {
    for (int attempt = 1; ; attempt++) {
      CommandResult result = runner.run(LvmCommands.remove(vg(), lv));
      if (result.succeeded()) {
        return;
      }
      LvmErrors.Failure failure = LvmErrors.classify(result);
      if (failure == LvmErrors.Failure.LV_NOT_FOUND) {
        return;
      }
      if (failure != LvmErrors.Failure.IN_USE || attempt >= REMOVE_ATTEMPTS) {
        throw LvmErrors.failure(result, "cannot remove LV '" + vg() + "/" + lv + "'");
      }
      try {
        sleeper.sleep(REMOVE_RETRY_DELAY);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StorageException(ErrorKind.ABORTED, "interrupted while waiting to remove '"
            + vg() + "/" + lv + "'", e);
      }
    }
  }

  // ---- the API -------------------------------------------------------------------------------

  /**
   * {@inheritDoc}
   *
   * <p>Keeps thin LVs of this pool named {@code (vm|base)-<owner>-...} (snapshot LVs start with
   * {@code snap_} and never match). One {@code lvs} call.
   */
  @Override
  public List<ImageInfo> listImages(OptionalLong owner, Optional<Collection<VolumeId>> volumes) {
    Objects.requireNonNull(owner, "owner");
    Objects.requireNonNull(volumes, "volumes");
    Set<VolumeId> wanted = volumes.map(HashSet::new).orElse(null);
    List<ImageInfo> images = new ArrayList<>();
    for (LogicalVolume lv : list().volumes()) {
      OptionalLong imageOwner = imageOwner(lv);
      if (imageOwner.isEmpty()) {
        continue;
      }
      long lvOwner = imageOwner.getAsLong();
      VolumeId volid = new VolumeId(storeId(), lv.name());
      if (wanted != null ? !wanted.contains(volid)
          : owner.isPresent() && owner.getAsLong() != lvOwner) {
        continue;
      }
      images.add(new ImageInfo(volid, ImageFormat.RAW, lv.sizeBytes(), lvOwner, lv.ctime(),
          Optional.empty(), LvTags.decode(lv.tags()), lv.attr().active()));
    }
    images.sort(Comparator.comparing(i -> i.volid().toString(), String.CASE_INSENSITIVE_ORDER));
    return images;
  }

  /** The owner ID of an LV that {@link #listImages} lists; empty for any other LV. */
  private OptionalLong imageOwner(LogicalVolume lv) {
    if (!lv.isThinVolumeIn(thinPool())) {
      return OptionalLong.empty();
    }
    Matcher m = IMAGE_PREFIX.matcher(lv.name());
    if (!m.find() || m.group(2).length() > 18) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(Long.parseLong(m.group(2)));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs} (VG and pool exist, the name is free, free-name search over every
   * LV of the VG, capacity policy), {@code lvcreate -aly -V <KiB>k --name N --thinpool VG/POOL
   * --addtag ...}, then {@code lvchange --setautoactivation n VG/N} (only warned about when it
   * fails, as in PVE). The size is rounded up to whole KiB here and to extents by LVM;
   * {@link #volumeSizeInfo} reports the real size.
   */
  @Override
  public String allocImage(long owner, ImageFormat format, Optional<String> name, long sizeBytes,
      Optional<VolumeMetadata> metadata) {
    checkOwner(owner);
    checkRaw(format);
    name.ifPresent(n -> checkNewName(n, owner));
    long kib = toKib(sizeBytes);
    List<String> tags = metadata.map(LvTags::encode).orElse(List.of());
    Listing listing = listWithActivePool();
    LogicalVolume pool = requirePool(listing);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    String volname = name.orElseGet(() ->
        VolumeNames.findFreeDiskname(listing.names(), owner, ImageFormat.RAW, false, storeId()));
    requireAbsent(listing, volname);
    requireRoom(listing, roundUp(sizeBytes, extentSize(pool)), "volume '" + volname + "'");
    run(LvmCommands.createThin(vg(), thinPool(), volname, kib, tags),
        "cannot create thin volume '" + vg() + "/" + volname + "'");
    runBestEffort(LvmCommands.disableAutoactivation(vg(), volname),
        "autoactivation stays on for " + volname);
    return volname;
  }

  /**
   * {@inheritDoc}
   *
   * <p>LVM rounds a thin volume's size up to whole extents of its VG. The extent size is known
   * once this plugin has listed the VG (every {@link #allocImage} does); before that, the first
   * call lists it once to learn it, and answers empty if that listing fails.
   */
  @Override
  public OptionalLong allocationSize(ImageFormat format, long sizeBytes) {
    if (format != ImageFormat.RAW || sizeBytes <= 0) {
      return OptionalLong.empty();
    }
    if (knownExtentSize <= 0) {
      try {
        requirePool(list());
      } catch (StorageException e) {
        LOG.log(Level.DEBUG, "the extent size of {0} is unknown: {1}", vg(), e.getMessage());
      }
    }
    long extent = knownExtentSize;
    return extent <= 0 ? OptionalLong.empty() : OptionalLong.of(roundUp(sizeBytes, extent));
  }

  /**
   * {@inheritDoc}
   *
   * <p>What follows {@code lvcreate} is {@code lvchange --setautoactivation n} (PVE 2796d6b),
   * so that boot-time autoactivation leaves the volume alone; a crash between the two leaves it
   * on for good. Commands: {@code lvs --reportformat json --binary -o
   * lv_name,lv_autoactivation VG/N}, then, only when that reads on, {@code lvchange
   * --setautoactivation n VG/N} (a failure only warned about, as at create). On lvm2 2.03.16 the
   * column is {@code enabled} or empty, and {@code 1} or {@code 0} with {@code --binary}
   * (fixtures {@code plugin-lvs-autoactivation-on} and {@code -off}). A missing LV is
   * NOT_FOUND; a report that cannot be had or read (an lvm2 before 2.03.12 has no such setting
   * at all) is warned about and finishes nothing.
   */
  @Override
  public void finishCreate(String volname) {
    parseVolname(volname);
    CommandResult result = runner.run(LvmCommands.autoactivation(vg(), volname));
    if (!result.succeeded()) {
      if (LvmErrors.classify(result) == LvmErrors.Failure.LV_NOT_FOUND) {
        throw LvmErrors.failure(result, "volume '" + volname + "' does not exist in thin pool '"
            + vg() + "/" + thinPool() + "'");
      }
      LOG.log(Level.WARNING, "cannot read the autoactivation of {0}/{1}, leaving it as it is: {2}",
          vg(), volname, LvmErrors.lastLine(result));
      return;
    }
    Optional<Boolean> on = LvmReportParser.autoactivation(result.stdoutText());
    if (on.isEmpty()) {
      LOG.log(Level.WARNING, "lvs reported no autoactivation for {0}/{1}, leaving it as it is: {2}",
          vg(), volname, result.stdoutText().strip());
    } else if (on.get()) {
      runBestEffort(LvmCommands.disableAutoactivation(vg(), volname),
          "autoactivation stays on for " + volname);
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>Deleting a volume keeps its CSI snapshots (issue 13 point 1). A thin snapshot is an LV of
   * its own that shares blocks with its origin but does not need it, so a snapshot that carries
   * a CSI name stays, is still listed under this volume name and can still be restored and
   * deleted; Kubernetes keeps its VolumeSnapshot ready to use. Snapshot LVs without a CSI name
   * ({@code snap_<volname>_*} taken by PVE or by hand, and the temporary snapshot of a PVC
   * clone) are removed first, as PVE's {@code free_image} removes every snapshot LV of the
   * volume. A new volume of the same name is a new volume; the old snapshots are then listed
   * beside its own under the same volume ID.
   *
   * <p>Commands: {@code lvs}, then {@code lvremove -f VG/LV} for every such snapshot LV without
   * a CSI name (skipping one whose recorded origin is another volume), then for the volume
   * itself if it exists, then for each stale PVC-clone snapshot of the pool ({@link
   * #removeStaleCloneSnapshots}). An LV of that name that is not a thin volume of this pool is
   * PRECONDITION, before anything is removed.
   */
  @Override
  public void freeImage(String volname) {
    parseVolname(volname);
    Listing listing = list();
    free(listing, volname, removableLv(listing, volname));
  }

  /**
   * {@inheritDoc}
   *
   * <p>The CSI name is read from the tags in the listing {@link #freeImage} works from: one
   * {@code lvs} in all. An LV of that name that {@link #listImages} would not list (not a thin
   * LV of this pool) is none of this storage's volumes: nothing is removed, as for a missing one.
   */
  @Override
  public void freeOwnImage(String volname) {
    parseVolname(volname);
    Listing listing = list();
    Optional<LogicalVolume> volume = listing.find(volname).filter(lv -> imageOwner(lv).isPresent());
    if (volume.isEmpty()) {
      return;
    }
    if (!carriesCsiName(volume.get())) {
      throw StoragePlugin.notCreatedByTheDriver(new VolumeId(storeId(), volname));
    }
    free(listing, volname, volume);
  }

  /** Removes the volume's snapshots without a CSI name, then the volume, then leftovers. */
  private void free(Listing listing, String volname, Optional<LogicalVolume> volume) {
    Set<String> removed = new HashSet<>();
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotRef> ref = poolSnapshot(lv);
      if (ref.isPresent() && ref.get().volname().equals(volname) && !carriesCsiName(lv)) {
        remove(lv.name());
        removed.add(lv.name());
      }
    }
    if (volume.isPresent()) {
      remove(volname);
      removed.add(volname);
    }
    removeStaleCloneSnapshots(listing, removed);
  }

  /**
   * The LV of that name when it is a thin LV of this pool; empty when there is none; an LV of
   * that name elsewhere (a thick LV, another pool) is PRECONDITION: not this storage's to remove.
   */
  private Optional<LogicalVolume> removableLv(Listing listing, String name) {
    Optional<LogicalVolume> lv = listing.find(name);
    if (lv.isPresent() && !lv.get().isThinVolumeIn(thinPool())) {
      throw new StorageException(ErrorKind.PRECONDITION, "LV '" + vg() + "/" + name
          + "' is not a thin LV of pool '" + thinPool() + "' (storage '" + storeId()
          + "'); not removing what another storage owns");
    }
    return lv;
  }

  private static boolean carriesCsiName(LogicalVolume lv) {
    return LvTags.decode(lv.tags()).isPresent();
  }

  /**
   * Removes the snapshots that PVC clones left behind ({@link VolumeNames#cloneSnapshotFor}).
   * A clone takes its snapshot, clones it and removes it again in one hold of the storage lock,
   * so under the lock every such snapshot LV is a leftover of a clone that failed or whose
   * process died in between. Only snapshot LVs of this pool with a clone snapshot name, no CSI
   * name, and a volume that is either gone or carries a CSI name count: a snapshot of a PVE
   * guest disk that merely has such a name is not the driver's. Best effort: a leftover that
   * cannot be removed now is logged and tried again by the next delete.
   *
   * @param skip LVs this call already removed (or is about to)
   */
  private void removeStaleCloneSnapshots(Listing listing, Set<String> skip) {
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotRef> ref = poolSnapshot(lv);
      if (ref.isEmpty() || skip.contains(lv.name()) || carriesCsiName(lv)
          || !VolumeNames.isCloneSnapshotName(ref.get().snapshot())) {
        continue;
      }
      boolean ofDriverVolume = listing.find(ref.get().volname())
          .map(LvmThinPlugin::carriesCsiName).orElse(true);
      if (!ofDriverVolume) {
        continue;
      }
      try {
        remove(lv.name());
        LOG.log(Level.INFO, "removed {0}/{1}, the snapshot a PVC clone left behind", vg(),
            lv.name());
      } catch (StorageException e) {
        LOG.log(Level.WARNING, "cannot remove {0}/{1}, the snapshot a PVC clone left behind; "
            + "the next delete tries again: {2}", vg(), lv.name(), e.describe());
      }
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, {@code lvcreate -n NEW -prw -kn -s VG/SOURCE --addtag ...}
   * (SOURCE = {@code snap_<volname>_<snapshot>}, or the base itself), then
   * {@code lvchange --setautoactivation n VG/NEW}. The clone is a writable thin snapshot: it
   * shares blocks with its source but does not depend on it.
   */
  @Override
  public String cloneImage(String volname, long owner, Optional<String> snapshot,
      Optional<String> name, Optional<VolumeMetadata> metadata) {
    Volname source = parseVolname(volname);
    checkOwner(owner);
    snapshot.ifPresent(LvmThinPlugin::checkSnapshot);
    name.ifPresent(n -> checkNewName(n, owner));
    List<String> tags = metadata.map(LvTags::encode).orElse(List.of());
    String sourceLv = snapshot.map(s -> snapshotLv(volname, s)).orElse(volname);
    if (snapshot.isEmpty() && !source.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION, "cannot clone '" + volname
          + "' without a snapshot: only base volumes can be cloned directly");
    }
    Listing listing = listWithActivePool();
    requirePool(listing);
    metadata.ifPresent(m -> requireCsiNameFree(listing, m));
    LogicalVolume sourceVolume = listing.find(sourceLv)
        .filter(lv -> lv.isThinVolumeIn(thinPool()))
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, snapshot
            .map(s -> "snapshot '" + s + "' of volume '" + volname + "'")
            .orElse("base volume '" + volname + "'") + " does not exist in thin pool '"
            + vg() + "/" + thinPool() + "'"));
    String newName = name.orElseGet(() ->
        VolumeNames.findFreeDiskname(listing.names(), owner, ImageFormat.RAW, false, storeId()));
    requireAbsent(listing, newName);
    requireRoom(listing, sourceVolume.sizeBytes(), "clone '" + newName + "'");
    run(LvmCommands.createClone(vg(), sourceLv, newName, tags),
        "cannot clone '" + vg() + "/" + sourceLv + "' to '" + newName + "'");
    runBestEffort(LvmCommands.disableAutoactivation(vg(), newName),
        "autoactivation stays on for " + newName);
    return newName;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, {@code lvrename VG vm-... base-...}, {@code lvchange -pr -ky
   * VG/base-...} (only warned about, as PVE) and {@code lvchange -an VG/base-...} (warned about
   * too: the base is already made, and an active read-only base is harmless).
   */
  @Override
  public String createBase(String volname) {
    Volname parsed = parseVolname(volname);
    if (parsed.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION,
          "create_base not possible with base image '" + volname + "'");
    }
    Listing listing = list();
    requireVolume(listing, volname);
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotRef> ref = snapshotRef(lv);
      if (ref.isPresent() && ref.get().volname().equals(volname)) {
        throw new StorageException(ErrorKind.PRECONDITION, "unable to create base volume - found "
            + "snapshot '" + lv.name() + "'; delete the snapshots of '" + volname + "' first");
      }
    }
    String newName = "base-" + volname.substring("vm-".length());
    requireAbsent(listing, newName);
    run(LvmCommands.rename(vg(), volname, newName),
        "cannot rename '" + vg() + "/" + volname + "' to '" + newName + "'");
    runBestEffort(LvmCommands.makeReadOnlySkipped(vg(), newName),
        "base " + newName + " stays writable or auto-activated");
    runBestEffort(LvmCommands.deactivate(vg(), newName), "base " + newName + " stays active");
    return newName;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs} (the volume exists, is not a base, the snapshot does not exist),
   * then {@code lvcreate -n snap_<volname>_<snapshot> -pr -s VG/<volname> --addtag ...}. Thin
   * snapshots skip activation by default; {@link #activateVolume} uses {@code -K}.
   */
  @Override
  public void volumeSnapshot(String volname, String snapshot, Optional<VolumeMetadata> metadata) {
    Volname parsed = parseVolname(volname);
    checkSnapshot(snapshot);
    String snapLv = snapshotLv(volname, snapshot);
    List<String> tags = metadata.map(LvTags::encode).orElse(List.of());
    Listing listing = list();
    requireVolume(listing, volname);
    if (parsed.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION, "'" + volname + "' is a base volume; "
          + "lvmthin snapshots only ordinary volumes (clone the base instead)");
    }
    requireAbsent(listing, snapLv);
    run(LvmCommands.createSnapshot(vg(), volname, snapLv, tags),
        "cannot snapshot '" + vg() + "/" + volname + "' as '" + snapLv + "'");
  }

  /**
   * {@inheritDoc}
   *
   * <p>One {@code lvs} answers the retry (a snapshot LV with the CSI name), the source (a thin
   * LV of this pool with a CSI name, not a base) and that the snapshot LV is free; then {@link
   * #volumeSnapshot}'s {@code lvcreate}, and {@code lvs VG/<snapshot LV>} of the new LV alone for
   * its size and time. Three commands where the lookups before the lock and the listing after
   * it took five.
   */
  @Override
  public SnapshotInfo snapshotOwn(String volname, String snapshot, VolumeMetadata metadata) {
    Volname parsed = parseVolname(volname);
    checkSnapshot(snapshot);
    String snapLv = snapshotLv(volname, snapshot);
    Listing listing = list();
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotRef> ref = poolSnapshot(lv);
      if (ref.isPresent() && LvTags.decode(lv.tags())
          .filter(m -> m.csiName().equals(metadata.csiName())).isPresent()) {
        return snapshotInfo(ref.get(), lv);
      }
    }
    VolumeId source = new VolumeId(storeId(), volname);
    LogicalVolume volume = listing.find(volname).filter(lv -> imageOwner(lv).isPresent())
        .orElseThrow(() -> StoragePlugin.sourceMissing(source));
    if (!carriesCsiName(volume)) {
      throw StoragePlugin.notOurs("source volume " + source + " was not created by this driver",
          "snapshotted");
    }
    if (parsed.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION, "'" + volname + "' is a base volume; "
          + "lvmthin snapshots only ordinary volumes (clone the base instead)");
    }
    requireAbsent(listing, snapLv);
    run(LvmCommands.createSnapshot(vg(), volname, snapLv, LvTags.encode(metadata)),
        "cannot snapshot '" + vg() + "/" + volname + "' as '" + snapLv + "'");
    CommandResult taken = runner.run(LvmCommands.lvsOne(vg(), snapLv));
    if (!taken.succeeded()) {
      throw LvmErrors.failure(taken, "cannot read the new snapshot LV '" + snapLv + "'");
    }
    LogicalVolume lv = new Listing(LvmReportParser.parse(taken.stdoutText())).find(snapLv)
        .orElseThrow(() -> new StorageException(ErrorKind.INTERNAL, "snapshot LV '" + snapLv
            + "' was created but lvs does not report it"));
    return snapshotInfo(new SnapshotRef(volname, snapshot), lv);
  }

  /**
   * {@inheritDoc}
   *
   * <p>A golden image is a thin LV of this pool named {@code base-...} that carries a CSI name;
   * its source is the volume its {@link LvTags#GOLDEN_SOURCE} tag records. One {@code lvs}.
   */
  @Override
  public List<SnapshotInfo> listGoldenImages() {
    List<SnapshotInfo> golden = new ArrayList<>();
    for (LogicalVolume lv : list().volumes()) {
      goldenImage(lv).ifPresent(golden::add);
    }
    golden.sort(Comparator.comparing(s -> s.id().toString()));
    return golden;
  }

  /** The golden image an LV is, if {@link #listGoldenImages} lists it. */
  private Optional<SnapshotInfo> goldenImage(LogicalVolume lv) {
    Optional<VolumeMetadata> metadata = LvTags.decode(lv.tags());
    if (imageOwner(lv).isEmpty() || !lv.name().startsWith("base-") || metadata.isEmpty()) {
      return Optional.empty();
    }
    VolumeId base = new VolumeId(storeId(), lv.name());
    Optional<VolumeId> source = LvTags.goldenSource(lv.tags()).or(lv::origin)
        .map(name -> new VolumeId(storeId(), name));
    return Optional.of(new SnapshotInfo(new SnapshotId(base, SnapshotInfo.GOLDEN),
        lv.sizeBytes(), lv.ctime().orElse(Instant.EPOCH), metadata, source));
  }

  /**
   * {@inheritDoc}
   *
   * <p>One {@code lvs} answers the retry (a base LV with the CSI name), the source (a thin LV of
   * this pool with a CSI name, not a base) and the base's name ({@code base-<owner>-disk-N}, N
   * the first number no LV of the VG takes, as PVE numbers disks); then one {@code lvcreate -n
   * base-<owner>-disk-N -pr -ky -s VG/<volname> --addtag ...} ({@link
   * LvmCommands#createGoldenBase}) makes the base complete: there is no step after it that a
   * crash could cut off, so a retry finds it by its CSI name and runs nothing. Last, {@code lvs
   * VG/base-...} of the new LV alone for its size and time. The source keeps its name and stays
   * writable; a thin snapshot does not depend on its origin, so either can be deleted first.
   */
  @Override
  public SnapshotInfo goldenImageOwn(String volname, VolumeMetadata metadata) {
    Volname parsed = parseVolname(volname);
    Listing listing = list();
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotInfo> golden = goldenImage(lv);
      if (golden.isPresent() && golden.get().metadata().orElseThrow().csiName()
          .equals(metadata.csiName())) {
        return golden.get();
      }
    }
    VolumeId source = new VolumeId(storeId(), volname);
    LogicalVolume volume = listing.find(volname).filter(lv -> imageOwner(lv).isPresent())
        .orElseThrow(() -> StoragePlugin.sourceMissing(source));
    if (!carriesCsiName(volume)) {
      throw StoragePlugin.notOurs("source volume " + source + " was not created by this driver",
          "made a base of");
    }
    if (parsed.isBase()) {
      throw new StorageException(ErrorKind.PRECONDITION, "'" + volname + "' is a base volume "
          + "already; a golden image is made from an ordinary volume");
    }
    String base = "base-" + VolumeNames.findFreeDiskname(listing.names(), parsed.owner(),
        ImageFormat.RAW, false, storeId()).substring("vm-".length());
    requireAbsent(listing, base);
    List<String> tags = new ArrayList<>(LvTags.encode(metadata));
    tags.add(LvTags.goldenSourceTag(volname));
    run(LvmCommands.createGoldenBase(vg(), volname, base, tags),
        "cannot make base '" + base + "' of '" + vg() + "/" + volname + "'");
    CommandResult made = runner.run(LvmCommands.lvsOne(vg(), base));
    if (!made.succeeded()) {
      throw LvmErrors.failure(made, "cannot read the new base LV '" + base + "'");
    }
    return new Listing(LvmReportParser.parse(made.stdoutText())).find(base)
        .flatMap(this::goldenImage)
        .orElseThrow(() -> new StorageException(ErrorKind.INTERNAL, "base LV '" + base
            + "' was created but lvs does not report it as a golden image"));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, then {@code lvremove -f VG/snap_<volname>_<snapshot>} when the
   * listing shows it ("not found" is success), then the stale PVC-clone snapshots of the pool
   * ({@link #removeStaleCloneSnapshots}). The volume itself need not exist: the snapshots of a
   * deleted volume are deleted the same way. Clones made from the snapshot are unaffected. An LV
   * of that name that is not a thin volume of this pool is PRECONDITION.
   */
  @Override
  public void volumeSnapshotDelete(String volname, String snapshot) {
    parseVolname(volname);
    checkSnapshot(snapshot);
    String snapLv = snapshotLv(volname, snapshot);
    Listing listing = list();
    if (removableLv(listing, snapLv).isPresent()) {
      remove(snapLv);
    }
    removeStaleCloneSnapshots(listing, Set.of(snapLv));
  }

  /**
   * {@inheritDoc}
   *
   * <p>The snapshot LV, and its CSI name, are found in the {@code lvs} the delete works from:
   * one listing, then {@link #volumeSnapshotDelete}'s removes. An LV of that name that {@link
   * #listSnapshots} lists under another ID (names may contain '_') is not this snapshot.
   */
  @Override
  public void deleteOwnSnapshot(String volname, String snapshot) {
    parseVolname(volname);
    if (snapshot == null || !SnapshotId.SNAP_NAME.matcher(snapshot).matches()
        || ("snap_" + volname + "_" + snapshot).length() > MAX_LV_NAME) {
      return; // no snapshot LV can have this name
    }
    String snapLv = snapshotLv(volname, snapshot);
    Listing listing = list();
    SnapshotRef wanted = new SnapshotRef(volname, snapshot);
    Optional<LogicalVolume> lv = listing.find(snapLv)
        .filter(found -> poolSnapshot(found).filter(wanted::equals).isPresent());
    if (lv.isEmpty()) {
      return;
    }
    if (!carriesCsiName(lv.get())) {
      throw StoragePlugin.notTakenByTheDriver(
          new SnapshotId(new VolumeId(storeId(), volname), snapshot));
    }
    remove(snapLv);
    removeStaleCloneSnapshots(listing, Set.of(snapLv));
  }

  /**
   * {@inheritDoc}
   *
   * <p>A snapshot is a thin LV of this pool named {@code snap_<volname>_<snapshot>}. Where LVM
   * still records the snapshot's origin, that origin is the volname (names may contain '_', so
   * the split is otherwise ambiguous); without an origin the volname ends at the first '_'
   * after {@code snap_}. Size is the snapshot LV's size, ctime its {@code lv_time}.
   */
  @Override
  public List<SnapshotInfo> listSnapshots(Optional<String> volname) {
    volname.ifPresent(this::parseVolname);
    List<SnapshotInfo> snapshots = new ArrayList<>();
    for (LogicalVolume lv : list().volumes()) {
      Optional<SnapshotRef> ref = poolSnapshot(lv);
      if (ref.isEmpty() || volname.map(v -> !v.equals(ref.get().volname())).orElse(false)) {
        continue;
      }
      snapshots.add(snapshotInfo(ref.get(), lv));
    }
    snapshots.sort(Comparator.comparing(s -> s.id().toString()));
    return snapshots;
  }

  /** A snapshot LV as the API lists it. */
  private SnapshotInfo snapshotInfo(SnapshotRef ref, LogicalVolume lv) {
    return new SnapshotInfo(new SnapshotId(new VolumeId(storeId(), ref.volname()),
        ref.snapshot()), lv.sizeBytes(), lv.ctime().orElse(Instant.EPOCH),
        LvTags.decode(lv.tags()));
  }

  /** A snapshot LV's volume and snapshot name. */
  private record SnapshotRef(String volname, String snapshot) {}

  /** The snapshot an LV is, if {@link #listSnapshots} lists it (a thin LV of this pool). */
  private Optional<SnapshotRef> poolSnapshot(LogicalVolume lv) {
    return lv.isThinVolumeIn(thinPool()) ? snapshotRef(lv) : Optional.empty();
  }

  private Optional<SnapshotRef> snapshotRef(LogicalVolume lv) {
    if (!lv.name().startsWith("snap_")) {
      return Optional.empty();
    }
    String rest = lv.name().substring("snap_".length());
    String volname;
    String snapshot;
    if (lv.origin().isPresent() && rest.startsWith(lv.origin().get() + "_")) {
      volname = lv.origin().get();
      snapshot = rest.substring(volname.length() + 1);
    } else if (lv.origin().isPresent()) {
      return Optional.empty(); // named after one volume, taken from another: not ours to list
    } else {
      int cut = rest.indexOf('_');
      if (cut < 0) {
        return Optional.empty();
      }
      volname = rest.substring(0, cut);
      snapshot = rest.substring(cut + 1);
    }
    if (!VOLNAME.matcher(volname).matches() || !LVM_NAME.matcher(volname).matches()
        || !SnapshotId.SNAP_NAME.matcher(snapshot).matches()) {
      return Optional.empty();
    }
    return Optional.of(new SnapshotRef(volname, snapshot));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, then, only if the request rounded up to the VG's extent size is
   * larger than the LV, {@code lvextend -L <KiB>k VG/N}. Checked before anything runs: equal is
   * a no-op returning the current size, smaller is OUT_OF_RANGE, growth beyond the capacity
   * policy is EXHAUSTED.
   */
  @Override
  public long volumeResize(String volname, long newSizeBytes) {
    parseVolname(volname);
    toKib(newSizeBytes);
    Listing listing = listWithActivePool();
    LogicalVolume lv = requireVolume(listing, volname);
    long target = roundUp(newSizeBytes, extentSize(lv));
    if (target == lv.sizeBytes()) {
      return target;
    }
    if (target < lv.sizeBytes()) {
      throw new StorageException(ErrorKind.OUT_OF_RANGE, "cannot shrink '" + volname + "' from "
          + lv.sizeBytes() + " to " + target + " bytes (" + newSizeBytes
          + " requested, rounded up to whole extents); volumes only grow");
    }
    requireRoom(listing, target - lv.sizeBytes(), "growing '" + volname + "'");
    run(LvmCommands.extend(vg(), volname, Math.ceilDiv(target, 1024L)),
        "cannot grow '" + vg() + "/" + volname + "' to " + target + " bytes");
    return target;
  }

  /** {@inheritDoc} One {@code lvs} call; used bytes from {@code data_percent} (0 if inactive). */
  @Override
  public SizeInfo volumeSizeInfo(String volname) {
    parseVolname(volname);
    LogicalVolume lv = requireVolume(list(), volname);
    return new SizeInfo(lv.sizeBytes(), ImageFormat.RAW, lv.dataUsedBytes().orElse(0),
        Optional.empty());
  }

  /**
   * {@inheritDoc}
   *
   * <p>One {@code lvs} call; the numbers and the allocatable formula are {@link ThinCapacity}'s.
   * A missing VG or pool is NOT_FOUND (PVE reports the storage inactive instead). An inactive
   * pool is activated first and listed again ({@link #listWithActivePool}): it reports no usage
   * and would look empty.
   */
  @Override
  public PoolStatus status() {
    return statusOf(listWithActivePool());
  }

  private PoolStatus statusOf(Listing listing) {
    return ThinCapacity.of(requirePool(listing), listing.volumes(), storage.common().capacity());
  }

  /**
   * {@inheritDoc}
   *
   * <p>The same single {@code lvs} call as {@link #status} (and the same activation of an
   * inactive pool): its rows also tell the volumes and the snapshot LVs apart. No health
   * (LVM-thin has no pool-level state beyond active).
   */
  @Override
  public PoolInventory inventory() {
    Listing listing = listWithActivePool();
    PoolStatus status = statusOf(listing);
    int volumes = 0;
    int snapshots = 0;
    for (LogicalVolume lv : listing.volumes()) {
      if (imageOwner(lv).isPresent()) {
        volumes++;
      } else if (poolSnapshot(lv).isPresent()) {
        snapshots++;
      }
    }
    return new PoolInventory(status, volumes, snapshots, Optional.empty());
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, then {@code lvchange -ay -K VG/LV} unless the LV is active
   * already ({@code -K} because snapshots and bases skip activation).
   */
  @Override
  public void activateVolume(String volname, Optional<String> snapshot) {
    String lvName = lvName(volname, snapshot);
    LogicalVolume lv = listVolumeOrSnapshot(lvName);
    if (!lv.attr().active()) {
      run(LvmCommands.activate(vg(), lvName), "cannot activate '" + vg() + "/" + lvName + "'");
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>As PVE: ordinary volumes stay active (no command); snapshots and bases get
   * {@code lvchange -an VG/LV}, and one that does not exist counts as deactivated.
   */
  @Override
  public void deactivateVolume(String volname, Optional<String> snapshot) {
    String lvName = lvName(volname, snapshot);
    if (snapshot.isEmpty() && !parseVolname(volname).isBase()) {
      return;
    }
    CommandResult result = runner.run(LvmCommands.deactivate(vg(), lvName));
    if (!result.succeeded() && LvmErrors.classify(result) != LvmErrors.Failure.LV_NOT_FOUND) {
      throw LvmErrors.failure(result, "cannot deactivate '" + vg() + "/" + lvName + "'");
    }
  }

  private String lvName(String volname, Optional<String> snapshot) {
    parseVolname(volname);
    return snapshot.map(s -> snapshotLv(volname, checkSnapshot(s))).orElse(volname);
  }

  private LogicalVolume listVolumeOrSnapshot(String lvName) {
    return list().find(lvName)
        .filter(lv -> lv.isThinVolumeIn(thinPool()))
        .orElseThrow(() -> new StorageException(ErrorKind.NOT_FOUND, "'" + lvName
            + "' does not exist in thin pool '" + vg() + "/" + thinPool() + "'"));
  }

  /** {@inheritDoc} {@code /dev/<vg>/<volname>} or {@code /dev/<vg>/snap_<volname>_<snap>}. */
  @Override
  public Path path(String volname, Optional<String> snapshot) {
    return Path.of("/dev", vg(), lvName(volname, snapshot));
  }

  /** {@inheritDoc} One {@code lvs} call; every LV of the VG counts, in any pool. */
  @Override
  public String findFreeDiskname(long owner, ImageFormat format) {
    checkOwner(owner);
    checkRaw(format);
    return VolumeNames.findFreeDiskname(list().names(), owner, ImageFormat.RAW, false, storeId());
  }
}
