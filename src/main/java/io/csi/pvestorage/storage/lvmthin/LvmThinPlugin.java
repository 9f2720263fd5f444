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
          + "' cannot take " + what + " (" + moreBytes + " bytes): " + status.allocatableBytes()
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
    Listing listing = list();
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
   * <p>LVM rounds a thin volume's size up to whole extents of its VG; the extent size is known
   * once this plugin has listed the VG (every {@link #allocImage} does).
   */
  @Override
  public OptionalLong allocationSize(ImageFormat format, long sizeBytes) {
    long extent = knownExtentSize;
    if (format != ImageFormat.RAW || sizeBytes <= 0 || extent <= 0) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(roundUp(sizeBytes, extent));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Commands: {@code lvs}, then {@code lvremove -f VG/LV} for every
   * {@code snap_<volname>_<snapshot name>} thin LV of the pool (skipping one whose recorded
   * origin is another volume), then for the volume itself if it exists. An LV of that name
   * that is not a thin volume of this pool is PRECONDITION, before anything is removed.
   */
  @Override
  public void freeImage(String volname) {
    parseVolname(volname);
    Listing listing = list();
    Optional<LogicalVolume> volume = listing.find(volname);
    if (volume.isPresent() && !volume.get().isThinVolumeIn(thinPool())) {
      throw new StorageException(ErrorKind.PRECONDITION, "LV '" + vg() + "/" + volname
          + "' is not a thin volume of pool '" + thinPool() + "' (storage '" + storeId()
          + "'); not removing what another storage owns");
    }
    for (LogicalVolume lv : listing.volumes()) {
      Optional<SnapshotRef> ref = snapshotRef(lv);
      if (ref.isPresent() && ref.get().volname().equals(volname)
          && lv.isThinVolumeIn(thinPool())) {
        remove(lv.name());
      }
    }
    if (volume.isPresent()) {
      remove(volname);
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
    Listing listing = list();
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
   * <p>Command: {@code lvremove -f VG/snap_<volname>_<snapshot>} only; "not found" is success.
   * Clones made from the snapshot are unaffected.
   */
  @Override
  public void volumeSnapshotDelete(String volname, String snapshot) {
    parseVolname(volname);
    checkSnapshot(snapshot);
    remove(snapshotLv(volname, snapshot));
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
      snapshots.add(new SnapshotInfo(
          new SnapshotId(new VolumeId(storeId(), ref.get().volname()), ref.get().snapshot()),
          lv.sizeBytes(), lv.ctime().orElse(Instant.EPOCH), LvTags.decode(lv.tags())));
    }
    snapshots.sort(Comparator.comparing(s -> s.id().toString()));
    return snapshots;
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
    Listing listing = list();
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
   * A missing VG or pool is NOT_FOUND (PVE reports the storage inactive instead).
   */
  @Override
  public PoolStatus status() {
    return statusOf(list());
  }

  private PoolStatus statusOf(Listing listing) {
    return ThinCapacity.of(requirePool(listing), listing.volumes(), storage.common().capacity());
  }

  /**
   * {@inheritDoc}
   *
   * <p>The same single {@code lvs} call as {@link #status}: its rows also tell the volumes and
   * the snapshot LVs apart. No health (LVM-thin has no pool-level state beyond active).
   */
  @Override
  public PoolInventory inventory() {
    Listing listing = list();
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
