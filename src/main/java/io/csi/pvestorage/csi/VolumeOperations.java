package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.ImageFormat;
import io.csi.pvestorage.storage.ImageInfo;
import io.csi.pvestorage.storage.SnapshotId;
import io.csi.pvestorage.storage.SnapshotInfo;
import io.csi.pvestorage.storage.StoragePlugin;
import io.csi.pvestorage.storage.VolumeId;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.VolumeOptions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The controller's work on the storage plugins, in storage terms: create (empty, from a snapshot,
 * from a volume), delete, snapshot, list. No gRPC here; {@link ControllerService} validates the
 * request, claims the name, calls one method and builds the response.
 *
 * <p><b>Idempotency.</b> The CSI name is recorded on the volume or snapshot in the command that
 * creates it, and the plugins refuse a second volume with the same CSI name. A create whose name
 * exists looks it up: found and compatible returns what exists (finishing an interrupted
 * restore-and-grow), found and incompatible is ALREADY_EXISTS. Deletes of what is gone succeed.
 *
 * <p><b>Locking.</b> Each mutating plugin call runs under the storage lock through {@link
 * NodeStorages#locked}; lookups do not take it.
 *
 * <p><b>Ownership.</b> The driver acts only on what it made: a volume or snapshot without a CSI
 * name (a Proxmox VE guest disk, a snapshot PVE or an operator took) is never snapshotted,
 * cloned, restored, listed or deleted. Such a request is refused before any command that
 * changes the storage runs: FAILED_PRECONDITION naming the object and why, or NOT_FOUND for a
 * volume or snapshot that does not exist (a deleted volume included).
 *
 * <p><b>Deleted volumes.</b> Deleting a volume keeps its CSI snapshots (the backends keep them
 * usable), so a snapshot's source volume may be gone: its snapshots stay listed with the old
 * source volume ID and can be restored and deleted; a new snapshot of the deleted volume is
 * NOT_FOUND. A CreateVolume of the deleted volume's name makes a new volume under the same volume
 * ID; the old snapshots are then listed beside the new volume's own (a CO never reuses a
 * snapshot's name, so a CreateSnapshot of an old snapshot's name still answers that snapshot).
 *
 * <p><b>Golden images.</b> A CreateSnapshot with {@code base} makes a PVE base volume of the
 * source's current content ({@link StoragePlugin#goldenImageOwn}), whose snapshot ID is {@code
 * <storeid>:<base volname>@}{@value SnapshotInfo#GOLDEN} ({@link #isGolden}). It is listed,
 * restored (a linked clone of the base) and deleted as a snapshot, never as a volume: ListVolumes
 * leaves bases out, and a base's volume ID is no source of a snapshot or a clone.
 */
public final class VolumeOperations {

  /** The size of a volume whose request names none (capacity range 0). */
  public static final long DEFAULT_SIZE_BYTES = 1L << 30;

  private final NodeStorages storages;

  public VolumeOperations(NodeStorages storages) {
    this.storages = Objects.requireNonNull(storages, "storages");
  }

  /** Where a new volume's data comes from. */
  public sealed interface Source {
    /** An empty volume. */
    record Empty() implements Source {}

    /** A restore of a snapshot. */
    record FromSnapshot(SnapshotId snapshot) implements Source {}

    /** A clone of a volume (a PVC clone). */
    record FromVolume(VolumeId volume) implements Source {}
  }

  /**
   * A validated CreateVolume.
   *
   * @param name the CSI name
   * @param requiredBytes at least this many bytes (0: no minimum)
   * @param limitBytes at most this many bytes (0: no maximum)
   * @param parameters the StorageClass parameters
   * @param access what the capabilities ask for
   * @param source where the data comes from
   */
  public record CreateRequest(String name, long requiredBytes, long limitBytes,
      VolumeParameters parameters, VolumeAccess access, Source source) {

    public CreateRequest {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(parameters, "parameters");
      Objects.requireNonNull(access, "access");
      Objects.requireNonNull(source, "source");
    }
  }

  /**
   * A volume as the controller reports it.
   *
   * @param id the volume ID
   * @param sizeBytes provisioned size in bytes
   * @param format raw or subvol
   */
  public record Volume(VolumeId id, long sizeBytes, ImageFormat format) {}

  /**
   * Creates the volume of {@code request}, or returns the one created for the same name before.
   *
   * @throws StorageException EXHAUSTED (storage not on this node, no room), NOT_FOUND (source
   *     missing), OUT_OF_RANGE (smaller than the source, or the rounded size exceeds the limit),
   *     ALREADY_EXISTS (the name belongs to an incompatible volume), INVALID
   */
  public Volume create(CreateRequest request) {
    VolumeParameters parameters = request.parameters();
    StoragePlugin plugin = storages.find(parameters.storage())
        .orElseThrow(() -> new StorageException(ErrorKind.EXHAUSTED, "storage '"
            + parameters.storage() + "' is not available on node " + storages.nodeId()
            + "; the volume must be provisioned on a node that has it"))
        .withVolumeOptions(new VolumeOptions(parameters.volBlockSize(), parameters.sparse()));
    VolumeMetadata metadata = new VolumeMetadata(request.name(), parameters.pvcNamespace(),
        parameters.pvcName(), parameters.pvName());

    // An empty volume is created straight away: the plugin's own listing (made under the lock)
    // refuses a CSI name that exists, and only then is the volume looked up. That saves a listing
    // on every first attempt. Restores and clones look up first, so that a retry after success
    // is answered even when the source has gone since.
    if (!(request.source() instanceof Source.Empty)) {
      Optional<ImageInfo> existing = findVolume(plugin, request.name());
      if (existing.isPresent()) {
        return adopt(plugin, request, existing.get());
      }
    }
    long owner = parameters.owner().orElse(plugin.defaultOwner());
    String volname = VolumeNames.volnameFor(request.name(), owner, request.access().format());
    try {
      Volume created = switch (request.source()) {
        case Source.Empty empty -> allocate(plugin, request, owner, volname, metadata);
        case Source.FromSnapshot s -> restore(plugin, request, owner, volname, metadata, s);
        case Source.FromVolume v -> cloneVolume(plugin, request, owner, volname, metadata, v);
      };
      return withinLimit(plugin, request, created);
    } catch (StorageException e) {
      if (e.kind() != ErrorKind.ALREADY_EXISTS) {
        throw e;
      }
      // Created before (a retry), by another process meanwhile, or a different volume holds
      // the derived volume name.
      return findVolume(plugin, request.name())
          .map(image -> adopt(plugin, request, image))
          .orElseThrow(() -> new StorageException(ErrorKind.ALREADY_EXISTS, "volume name "
              + volname + " on storage " + plugin.storeId() + " is taken by a volume that "
              + "does not belong to CSI name '" + request.name() + "'", e));
    }
  }

  private Volume allocate(StoragePlugin plugin, CreateRequest request, long owner,
      String volname, VolumeMetadata metadata) {
    long size = chooseSize(request, 0);
    ImageFormat format = request.access().format();
    OptionalLong aboveLimit = roundedAboveLimit(plugin, request, format, size);
    if (aboveLimit.isPresent()) {
      // Refused before anything is made. A volume an earlier attempt left under this name is
      // settled as any found volume is (removed when it is this request's over-limit result).
      Optional<ImageInfo> earlier = findVolume(plugin, request.name());
      if (earlier.isPresent()) {
        return adopt(plugin, request, earlier.get());
      }
      throw overLimit(plugin, request, aboveLimit.getAsLong());
    }
    String made = storages.locked(plugin, "alloc", volname, () -> plugin.allocImage(owner,
        format, Optional.of(volname), size, Optional.of(metadata)));
    // The plugin knows its rounding (extents, 1 MiB): no listing just to read the size back.
    OptionalLong allocated = plugin.allocationSize(format, size);
    return allocated.isPresent()
        ? new Volume(new VolumeId(plugin.storeId(), made), allocated.getAsLong(), format)
        : sized(plugin, made);
  }

  private Volume restore(StoragePlugin plugin, CreateRequest request, long owner,
      String volname, VolumeMetadata metadata, Source.FromSnapshot source) {
    SnapshotId snapshotId = source.snapshot();
    sameStorage(plugin, snapshotId.volume(), "snapshot " + snapshotId);
    if (isGolden(plugin, snapshotId)) {
      return cloneGolden(plugin, request, owner, volname, metadata, snapshotId);
    }
    SnapshotInfo snapshot = listSnapshotsOf(plugin, snapshotId.volume()).stream()
        .filter(s -> s.id().equals(snapshotId)).findFirst()
        .orElseThrow(() -> notFound("snapshot " + snapshotId + " does not exist on node "
            + storages.nodeId()));
    if (snapshot.metadata().isEmpty()) {
      throw notOurs("snapshot " + snapshotId + " was not taken by this driver", "restored");
    }
    ImageFormat format = plugin.parseVolname(snapshotId.volume().volname()).format();
    sameFormat(request, format, "snapshot " + snapshotId);
    long size = chooseSize(request, snapshot.sizeBytes());
    requireGrowWithinLimit(plugin, request, format, snapshot.sizeBytes(), size);
    String made = storages.locked(plugin, "clone", volname, () -> plugin.cloneImage(
        snapshotId.volume().volname(), owner, Optional.of(snapshotId.snapName()),
        Optional.of(volname), Optional.of(metadata)));
    return grow(plugin, made, size);
  }

  /**
   * A volume from a golden image: PVE's linked clone of the base ({@code clone_image} without a
   * snapshot name), then grown to the request's size. A size below the base's is OUT_OF_RANGE
   * before any command, as for every restore.
   */
  private Volume cloneGolden(StoragePlugin plugin, CreateRequest request, long owner,
      String volname, VolumeMetadata metadata, SnapshotId snapshotId) {
    SnapshotInfo golden = plugin.listGoldenImages().stream()
        .filter(g -> g.id().equals(snapshotId)).findFirst()
        .orElseThrow(() -> notFound("snapshot " + snapshotId + " does not exist on node "
            + storages.nodeId()));
    String base = snapshotId.volume().volname();
    ImageFormat format = plugin.parseVolname(base).format();
    sameFormat(request, format, "snapshot " + snapshotId);
    long size = chooseSize(request, golden.sizeBytes());
    requireGrowWithinLimit(plugin, request, format, golden.sizeBytes(), size);
    String made = storages.locked(plugin, "clone", volname, () -> plugin.cloneImage(base, owner,
        Optional.empty(), Optional.of(volname), Optional.of(metadata)));
    return grow(plugin, made, size);
  }

  private Volume cloneVolume(StoragePlugin plugin, CreateRequest request, long owner,
      String volname, VolumeMetadata metadata, Source.FromVolume source) {
    VolumeId sourceId = source.volume();
    sameStorage(plugin, sourceId, "volume " + sourceId);
    ImageInfo sourceImage = ownVolume(plugin, sourceId, "cloned");
    sameFormat(request, sourceImage.format(), "volume " + sourceId);
    long size = chooseSize(request, sourceImage.sizeBytes());
    requireGrowWithinLimit(plugin, request, sourceImage.format(), sourceImage.sizeBytes(), size);
    // A clone of a volume is a clone of a snapshot taken for it. The snapshot is named after the
    // new volume, so a retry after a crash reuses it, and it carries no CSI name, so it is never
    // listed as a VolumeSnapshot. It is deleted in the same hold of the lock, whether the clone
    // worked or not; LVM-thin then removes it at once, ZFS keeps it as a tombstone for as long
    // as the clone needs its origin. One left by a process that died in between is removed by
    // the retry that finds the clone (adopt), else by the backends' next delete (under the
    // lock, any clone snapshot is such a leftover).
    String snapName = VolumeNames.cloneSnapshotFor(volname);
    String made = storages.locked(plugin, "clone", volname, () -> {
      try {
        plugin.volumeSnapshot(sourceId.volname(), snapName, Optional.empty());
      } catch (StorageException e) {
        if (e.kind() != ErrorKind.ALREADY_EXISTS) {
          throw e;
        }
      }
      String clone;
      try {
        clone = plugin.cloneImage(sourceId.volname(), owner, Optional.of(snapName),
            Optional.of(volname), Optional.of(metadata));
      } catch (RuntimeException e) {
        try {
          plugin.volumeSnapshotDelete(sourceId.volname(), snapName);
        } catch (RuntimeException cleanup) {
          e.addSuppressed(cleanup);
        }
        throw e;
      }
      plugin.volumeSnapshotDelete(sourceId.volname(), snapName);
      return clone;
    });
    return grow(plugin, made, size);
  }

  /**
   * A volume found under the request's name: returned when compatible, else ALREADY_EXISTS.
   * What a crash may have left unfinished is finished first: the backend's steps after its
   * creating command ({@link StoragePlugin#finishCreate}), the removal of a PVC clone's
   * temporary snapshot, and the grow of a restore or clone.
   *
   * <p>A volume above the request's limit whose size is exactly what this request rounds up
   * to is what a create of this very request left behind when it was cut off before it could
   * remove it again (or what a version that did not check the rounding first made): it is
   * removed and the request answered OUT_OF_RANGE, as the create itself would be, instead of
   * ALREADY_EXISTS on every retry. Any other volume above the limit is a different volume and
   * stays (ALREADY_EXISTS); so does one whose rounding the plugin cannot foresee.
   */
  private Volume adopt(StoragePlugin plugin, CreateRequest request, ImageInfo image) {
    String what = "volume " + image.volid() + " (CSI name '" + request.name() + "')";
    if (image.format() != request.access().format()) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, what + " exists as a "
          + image.format().pveName() + " volume; this request needs "
          + request.access().format().pveName());
    }
    long size = image.sizeBytes();
    String volname = image.volid().volname();
    long limit = request.limitBytes();
    if (limit > 0 && size > limit) {
      OptionalLong ownResult = plugin.allocationSize(image.format(), chooseSize(request, 0));
      if (ownResult.isPresent() && ownResult.getAsLong() == size) {
        throw removedOverLimit(plugin, request, volname, size);
      }
      throw new StorageException(ErrorKind.ALREADY_EXISTS, what + " exists with " + size
          + " bytes, more than this request's limit of " + limit);
    }
    if (size < request.requiredBytes() && request.source() instanceof Source.Empty) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, what + " exists with " + size
          + " bytes, less than the " + request.requiredBytes() + " bytes this request needs");
    }
    storages.locked(plugin, "finish", volname, () -> {
      plugin.finishCreate(volname);
      if (request.source() instanceof Source.FromVolume clone
          && clone.volume().storeId().equals(plugin.storeId())) {
        // A PVC clone cut off after its clone but before its temporary snapshot was removed:
        // the retry removes it now, as the create would have, instead of leaving a snapshot
        // nothing owns until some later delete on this storage (found by the crash suite).
        // Both backends treat a snapshot that is already gone as removed.
        plugin.volumeSnapshotDelete(clone.volume().volname(),
            VolumeNames.cloneSnapshotFor(volname));
      }
      return null;
    });
    if (size >= request.requiredBytes()) {
      return new Volume(image.volid(), size, image.format());
    }
    // A restore or clone that was interrupted between the clone and the grow.
    OptionalLong grown = roundedAboveLimit(plugin, request, image.format(),
        request.requiredBytes());
    if (grown.isPresent()) {
      throw removedOverLimit(plugin, request, volname, grown.getAsLong());
    }
    return withinLimit(plugin, request, grow(plugin, volname, request.requiredBytes()));
  }

  /** The size to create: the request's minimum, else the source's size, else the default. */
  private static long chooseSize(CreateRequest request, long sourceBytes) {
    if (sourceBytes > 0) {
      long asked = request.requiredBytes() > 0 ? request.requiredBytes() : request.limitBytes();
      if (asked > 0 && asked < sourceBytes) {
        throw new StorageException(ErrorKind.OUT_OF_RANGE, "the source holds " + sourceBytes
            + " bytes; a volume made from it cannot have " + asked + " bytes (ask for at least "
            + sourceBytes + ")");
      }
      return Math.max(request.requiredBytes(), sourceBytes);
    }
    if (request.requiredBytes() > 0) {
      return request.requiredBytes();
    }
    return request.limitBytes() > 0
        ? Math.min(request.limitBytes(), DEFAULT_SIZE_BYTES) : DEFAULT_SIZE_BYTES;
  }

  private Volume grow(StoragePlugin plugin, String volname, long size) {
    Volume made = sized(plugin, volname);
    if (made.sizeBytes() >= size) {
      return made;
    }
    long grown = storages.locked(plugin, "resize", volname,
        () -> plugin.volumeResize(volname, size));
    return new Volume(made.id(), grown, made.format());
  }

  /**
   * The backends round sizes up (LVM extents, ZFS blocks). The rounding is checked before
   * anything is created ({@link #roundedAboveLimit}) wherever the plugin can foresee it; a
   * result above the limit that it could not foresee is removed again and refused, so no volume
   * outside the range is ever handed out.
   */
  private Volume withinLimit(StoragePlugin plugin, CreateRequest request, Volume volume) {
    if (request.limitBytes() == 0 || volume.sizeBytes() <= request.limitBytes()) {
      return volume;
    }
    throw removedOverLimit(plugin, request, volume.id().volname(), volume.sizeBytes());
  }

  /** Removes a volume of this request that is above its limit; the answer to give. */
  private StorageException removedOverLimit(StoragePlugin plugin, CreateRequest request,
      String volname, long sizeBytes) {
    storages.locked(plugin, "free", volname, () -> {
      plugin.freeImage(volname);
      return null;
    });
    return overLimit(plugin, request, sizeBytes);
  }

  private static StorageException overLimit(StoragePlugin plugin, CreateRequest request,
      long roundedBytes) {
    return new StorageException(ErrorKind.OUT_OF_RANGE, "storage " + plugin.storeId()
        + " rounds this volume up to " + roundedBytes + " bytes, above the limit of "
        + request.limitBytes() + " bytes; raise the limit or ask for a size that is a multiple "
        + "of the allocation unit");
  }

  /**
   * The size the plugin rounds {@code sizeBytes} up to, when it foresees that and it is above
   * the request's limit; empty otherwise. Checked before anything is created; a plugin that
   * cannot foresee its rounding is checked on the result instead ({@link #withinLimit}).
   */
  private static OptionalLong roundedAboveLimit(StoragePlugin plugin, CreateRequest request,
      ImageFormat format, long sizeBytes) {
    if (request.limitBytes() == 0) {
      return OptionalLong.empty();
    }
    OptionalLong rounded = plugin.allocationSize(format, sizeBytes);
    return rounded.isPresent() && rounded.getAsLong() > request.limitBytes()
        ? rounded : OptionalLong.empty();
  }

  /**
   * OUT_OF_RANGE for a restore or clone whose grow after cloning would be rounded above the
   * limit: checked before the clone is made, so that no clone is left at its source's size when
   * the grow could never fit.
   */
  private static void requireGrowWithinLimit(StoragePlugin plugin, CreateRequest request,
      ImageFormat format, long sourceBytes, long sizeBytes) {
    if (sizeBytes > sourceBytes) {
      OptionalLong rounded = roundedAboveLimit(plugin, request, format, sizeBytes);
      if (rounded.isPresent()) {
        throw overLimit(plugin, request, rounded.getAsLong());
      }
    }
  }

  private static Volume sized(StoragePlugin plugin, String volname) {
    var info = plugin.volumeSizeInfo(volname);
    return new Volume(new VolumeId(plugin.storeId(), volname), info.sizeBytes(), info.format());
  }

  /**
   * Deletes a volume this driver created. Gone (or on a storage this node does not serve) is
   * success.
   *
   * @throws StorageException PRECONDITION when the volume carries no CSI name (a volume this
   *     driver did not create, e.g. a Proxmox VE guest disk, is never deleted) or is in use
   */
  public void delete(VolumeId id) {
    Optional<StoragePlugin> plugin = storages.find(id.storeId());
    if (plugin.isEmpty()) {
      return;
    }
    StoragePlugin p = plugin.get();
    try {
      if (p.parseVolname(id.volname()).isBase()) {
        return; // a golden image is no volume: only DeleteSnapshot removes it
      }
    } catch (StorageException e) {
      return; // not a volume name of this storage: names nothing
    }
    // The ownership check and the removal are answered from one listing under the lock.
    storages.locked(p, "free", id.volname(), () -> {
      p.freeOwnImage(id.volname());
      return null;
    });
  }

  /** Whether a volume exists, with its facts. */
  public Optional<ImageInfo> find(VolumeId id) {
    return storages.find(id.storeId()).flatMap(p -> p.listImages(OptionalLong.empty(),
        Optional.of(List.of(id))).stream().filter(i -> !isBase(p, i)).findFirst());
  }

  /** Every volume this driver created on this node's storages, sorted by ID. */
  public List<ImageInfo> listVolumes() {
    List<ImageInfo> all = new ArrayList<>();
    for (StoragePlugin plugin : storages.all()) {
      plugin.listImages(OptionalLong.empty(), Optional.empty()).stream()
          .filter(i -> i.metadata().isPresent() && !isBase(plugin, i)).forEach(all::add);
    }
    all.sort(Comparator.comparing(i -> i.volid().toString()));
    return all;
  }

  /**
   * Takes a snapshot named after a CSI name, or returns the one taken for that name before.
   *
   * @throws StorageException NOT_FOUND (source missing or deleted), PRECONDITION (the source
   *     was not created by this driver), ALREADY_EXISTS (the name belongs to a snapshot of
   *     another volume)
   */
  public SnapshotInfo snapshot(String name, VolumeId source) {
    StoragePlugin plugin = sourcePlugin(source);
    String snapName = VolumeNames.snapNameFor(name);
    SnapshotInfo snapshot;
    try {
      // One listing under the lock answers the retry, the source's ownership and the snapshot.
      snapshot = storages.locked(plugin, "snapshot", source.volname() + "@" + snapName,
          () -> plugin.snapshotOwn(source.volname(), snapName, VolumeMetadata.of(name)));
    } catch (StorageException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        throw notFound("source volume " + source + " does not exist on node "
            + storages.nodeId());
      }
      if (e.kind() != ErrorKind.ALREADY_EXISTS) {
        throw e;
      }
      return findSnapshot(plugin, name).map(s -> sameSource(s, name, source))
          .orElseThrow(() -> new StorageException(ErrorKind.ALREADY_EXISTS, "snapshot "
              + source + "@" + snapName + " exists and does not belong to CSI name '" + name
              + "'", e));
    }
    return sameSource(snapshot, name, source);
  }

  /**
   * Makes a golden image of {@code source} named after a CSI name, or returns the one made for
   * that name before ({@link StoragePlugin#goldenImageOwn}, under the storage lock).
   *
   * @throws StorageException NOT_FOUND (source missing or deleted), PRECONDITION (the source
   *     was not created by this driver), ALREADY_EXISTS (the name belongs to an ordinary
   *     snapshot, or to a golden image of another volume), INVALID (the storage has no bases)
   */
  public SnapshotInfo golden(String name, VolumeId source) {
    StoragePlugin plugin = sourcePlugin(source);
    Optional<SnapshotInfo> ordinary = findSnapshot(plugin, name);
    if (ordinary.isPresent()) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, "snapshot name '" + name + "' is "
          + "already used by snapshot " + ordinary.get().id() + ", which is not a base");
    }
    SnapshotInfo golden;
    try {
      golden = storages.locked(plugin, "golden", source.toString(),
          () -> plugin.goldenImageOwn(source.volname(), VolumeMetadata.of(name)));
    } catch (StorageException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        throw notFound("source volume " + source + " does not exist on node "
            + storages.nodeId());
      }
      throw e;
    }
    return sameSource(golden, name, source);
  }

  /**
   * The plugin of a volume that a snapshot or golden image is to be made of: NOT_FOUND when
   * its storage is not here, its name is none of the storage's, or it names a base (a golden
   * image is no volume).
   */
  private StoragePlugin sourcePlugin(VolumeId source) {
    StoragePlugin plugin = storages.find(source.storeId()).orElseThrow(() -> notFound(
        "source volume " + source + ": storage '" + source.storeId() + "' is not on node "
            + storages.nodeId()));
    boolean base;
    try {
      base = plugin.parseVolname(source.volname()).isBase();
    } catch (StorageException e) {
      throw notFound("source volume " + source + " is not a volume of storage "
          + source.storeId() + ": " + e.getMessage());
    }
    if (base) {
      throw notFound("source volume " + source + " is a base (a golden image's), not a volume;"
          + " make the new snapshot of a volume cloned from it");
    }
    return plugin;
  }

  private static SnapshotInfo sameSource(SnapshotInfo snapshot, String name, VolumeId source) {
    if (!snapshot.sourceVolume().equals(source)) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, "snapshot name '" + name
          + "' is already used by snapshot " + snapshot.id() + " of another volume");
    }
    return snapshot;
  }

  /**
   * Deletes a snapshot this driver took. Gone is success.
   *
   * @throws StorageException PRECONDITION when the snapshot carries no CSI name
   */
  public void deleteSnapshot(SnapshotId id) {
    Optional<StoragePlugin> plugin = storages.find(id.volume().storeId());
    if (plugin.isEmpty()) {
      return;
    }
    StoragePlugin p = plugin.get();
    try {
      p.parseVolname(id.volume().volname());
    } catch (StorageException e) {
      return; // not a volume name of this storage: names nothing
    }
    if (isGolden(p, id)) {
      // The base goes as a volume of the driver's goes: at once, or hidden while clones need
      // it (ZFS), and a base PVE or an operator made (no CSI name) is refused and kept.
      storages.locked(p, "delgolden", id.toString(), () -> {
        p.freeOwnImage(id.volume().volname());
        return null;
      });
      return;
    }
    // The ownership check and the removal are answered from one listing under the lock.
    storages.locked(p, "delsnapshot", id.volume().volname() + "@" + id.snapName(), () -> {
      p.deleteOwnSnapshot(id.volume().volname(), id.snapName());
      return null;
    });
  }

  /**
   * One CSI snapshot by ID; none when it does not exist or was not taken by this driver. A
   * pre-provisioned VolumeSnapshotContent may name a snapshot PVE or an operator took, but the
   * driver never restores, lists or deletes a snapshot it did not take (it cannot know what
   * else relies on it), so such an ID is answered as unknown here too.
   */
  public List<SnapshotInfo> snapshotById(SnapshotId id) {
    return storages.find(id.volume().storeId())
        .map(p -> (isGolden(p, id) ? p.listGoldenImages() : listSnapshotsOf(p, id.volume()))
            .stream().filter(s -> s.id().equals(id) && s.metadata().isPresent()).toList())
        .orElse(List.of());
  }

  /** The CSI snapshots of one volume, sorted by ID; none when the volume is unknown. */
  public List<SnapshotInfo> snapshotsOf(VolumeId volume) {
    return storages.find(volume.storeId())
        .map(p -> {
          List<SnapshotInfo> found = new ArrayList<>(listSnapshotsOf(p, volume).stream()
              .filter(s -> s.metadata().isPresent()).toList());
          p.listGoldenImages().stream().filter(g -> sameVolume(p, g.sourceVolume(), volume))
              .forEach(found::add);
          found.sort(Comparator.comparing(s -> s.id().toString()));
          return List.copyOf(found);
        })
        .orElse(List.of());
  }

  /** Every CSI snapshot on this node's storages, sorted by ID. */
  public List<SnapshotInfo> allSnapshots() {
    List<SnapshotInfo> all = new ArrayList<>();
    for (StoragePlugin plugin : storages.all()) {
      plugin.listSnapshots(Optional.empty()).stream()
          .filter(s -> s.metadata().isPresent()).forEach(all::add);
      all.addAll(plugin.listGoldenImages());
    }
    all.sort(Comparator.comparing(s -> s.id().toString()));
    return all;
  }

  private static List<SnapshotInfo> listSnapshotsOf(StoragePlugin plugin, VolumeId volume) {
    try {
      plugin.parseVolname(volume.volname());
      return plugin.listSnapshots(Optional.of(volume.volname()));
    } catch (StorageException e) {
      if (e.kind() == ErrorKind.NOT_FOUND || e.kind() == ErrorKind.INVALID) {
        return List.of();
      }
      throw e;
    }
  }

  /**
   * The volume {@code id} as a source of a new snapshot or clone: NOT_FOUND when it does not
   * exist (a deleted volume included), PRECONDITION when it carries no CSI name.
   *
   * @param doing what would be done to it, for the message ("snapshotted", "cloned")
   */
  private ImageInfo ownVolume(StoragePlugin plugin, VolumeId id, String doing) {
    ImageInfo image = plugin.listImages(OptionalLong.empty(), Optional.of(List.of(id))).stream()
        .filter(i -> !isBase(plugin, i)).findFirst().orElseThrow(() -> notFound("source volume " + id + " does not exist on node "
            + storages.nodeId()));
    if (image.metadata().isEmpty()) {
      throw notOurs("source volume " + id + " was not created by this driver", doing);
    }
    return image;
  }

  /** PRECONDITION for an object without a CSI name; the driver leaves it alone. */
  private static StorageException notOurs(String what, String doing) {
    return StoragePlugin.notOurs(what, doing);
  }

  private static Optional<ImageInfo> findVolume(StoragePlugin plugin, String name) {
    return plugin.listImages(OptionalLong.empty(), Optional.empty()).stream()
        .filter(i -> i.metadata().map(m -> m.csiName().equals(name)).orElse(false)
            && !isBase(plugin, i))
        .findFirst();
  }

  /**
   * Whether a snapshot ID names a golden image: {@value SnapshotInfo#GOLDEN} after a base's
   * volume name. The driver takes no ordinary snapshot of a base, so no other ID has that form.
   */
  static boolean isGolden(StoragePlugin plugin, SnapshotId id) {
    if (!id.snapName().equals(SnapshotInfo.GOLDEN)) {
      return false;
    }
    try {
      return plugin.parseVolname(id.volume().volname()).isBase();
    } catch (StorageException e) {
      return false;
    }
  }

  /** Whether a listed image is a base: a golden image, listed as a snapshot, never a volume. */
  private static boolean isBase(StoragePlugin plugin, ImageInfo image) {
    return plugin.parseVolname(image.volid().volname()).isBase();
  }

  /** The same volume, whatever ZFS base prefix either ID carries. */
  private static boolean sameVolume(StoragePlugin plugin, VolumeId a, VolumeId b) {
    if (a.equals(b)) {
      return true;
    }
    try {
      return a.storeId().equals(b.storeId()) && plugin.parseVolname(a.volname()).name()
          .equals(plugin.parseVolname(b.volname()).name());
    } catch (StorageException e) {
      return false;
    }
  }

  private static Optional<SnapshotInfo> findSnapshot(StoragePlugin plugin, String name) {
    return plugin.listSnapshots(Optional.empty()).stream()
        .filter(s -> s.metadata().map(m -> m.csiName().equals(name)).orElse(false))
        .findFirst();
  }

  private static void sameStorage(StoragePlugin plugin, VolumeId source, String what) {
    if (!source.storeId().equals(plugin.storeId())) {
      throw new StorageException(ErrorKind.INVALID, what + " is on storage '" + source.storeId()
          + "' but the StorageClass names '" + plugin.storeId() + "'; clones and restores stay "
          + "in the pool of their source, so use a StorageClass with storage: "
          + source.storeId());
    }
  }

  private static void sameFormat(CreateRequest request, ImageFormat format, String what) {
    if (format != request.access().format()) {
      throw new StorageException(ErrorKind.INVALID, what + " is a " + format.pveName()
          + " volume; a " + request.access().format().pveName() + " volume cannot be made from "
          + "it (fsType zfs goes with datasets, block/ext4/xfs with raw volumes)");
    }
  }

  private static StorageException notFound(String message) {
    return new StorageException(ErrorKind.NOT_FOUND, message);
  }
}
