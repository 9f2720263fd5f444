package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The node's filesystem work, each step an argv through a {@link CommandRunner}: make a
 * filesystem on a blank device and mount it, bind mount a mounted filesystem or a device node,
 * unmount and remove, statistics, growth.
 *
 * <p>The mounting methods are idempotent: each first reads the mount table, answers at once when
 * the wanted mount is already there, and refuses with ALREADY_EXISTS when something else is.
 * Mounts are compared by device number and filesystem root, not by the source's spelling, so an
 * LVM volume mounted as {@code /dev/mapper/vg-lv} matches a request naming {@code /dev/vg/lv}.
 *
 * <p>Data is never put at risk: a device is formatted only when blkid probed it and found no
 * signature and the device was read (a device that cannot be read is not blank); the ext4 tools
 * are not given {@code -F -F} and xfs is never given {@code -f}, so mkfs.xfs refuses an existing
 * filesystem by itself as well; a filesystem is grown, never shrunk; only the mounts of the
 * volume asked about are unmounted ({@link VolumeSource}), never forced or lazily (a busy target
 * stays mounted and the call fails, to be retried); a target is removed with {@code rmdir} of an
 * empty directory or {@code rm} of an empty regular file, never recursively.
 */
public final class Mounter {

  /** The filesystems this class makes and grows on raw devices. */
  public static final Set<String> DEVICE_FILESYSTEMS = Set.of("ext4", "xfs");

  /** More stacked mounts than this on one target means something else keeps mounting there. */
  static final int MAX_STACKED = 16;

  private final CommandRunner runner;
  private final Duration timeout;
  private final Duration longTimeout;

  /**
   * @param runner runs every command (with the host prefix in production)
   * @param timeout for quick commands (findmnt, stat, mount, umount, blkid)
   * @param longTimeout for mkfs and filesystem growth, which scale with the device
   */
  public Mounter(CommandRunner runner, Duration timeout, Duration longTimeout) {
    this.runner = Objects.requireNonNull(runner, "runner");
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    this.longTimeout = Objects.requireNonNull(longTimeout, "longTimeout");
  }

  /** The runner of every command, for node work beside mounting (LUKS2 containers). */
  public CommandRunner runner() {
    return runner;
  }

  // ---- reading --------------------------------------------------------------------------------

  /** The host's mount table, with one findmnt call. */
  public MountTable mounts() {
    CommandResult result = mustRun(timeout, "cannot read the mount table",
        "findmnt", "-J", "-l", "-o", FindmntParser.COLUMNS);
    return FindmntParser.parse(result.stdoutText());
  }

  /** What is at a path itself (a symbolic link is reported as one); empty if nothing. */
  public Optional<FileInfo> inspect(HostPath path) {
    return stat(path, false);
  }

  /**
   * The paths with every symbolic link of their existing parts resolved, with one
   * {@code realpath -m} call (parts that do not exist yet are kept as they are). Output is
   * NUL-separated, so any byte a link's target may hold is read back exactly.
   *
   * @return one resolved path per path given, in order
   */
  public List<String> realPaths(List<HostPath> paths) {
    List<String> argv = new ArrayList<>(List.of("realpath", "-z", "-m", "--"));
    paths.forEach(p -> argv.add(p.value()));
    String out = mustRun(timeout, "cannot resolve the request's paths", argv).stdoutText();
    List<String> resolved = new ArrayList<>();
    int from = 0;
    for (int nul = out.indexOf(0); nul >= 0; nul = out.indexOf(0, from)) {
      resolved.add(out.substring(from, nul));
      from = nul + 1;
    }
    if (resolved.size() != paths.size()) {
      throw new StorageException(ErrorKind.INTERNAL, "realpath answered " + resolved.size()
          + " paths for " + paths.size());
    }
    return resolved;
  }

  /**
   * The device number of a block device path (links followed).
   *
   * @throws StorageException NOT_FOUND when the path does not exist, PRECONDITION when it is
   *     not a block device
   */
  public DeviceNumber blockDevice(HostPath device) {
    FileInfo info = stat(device, true).orElseThrow(() -> new StorageException(
        ErrorKind.NOT_FOUND, "device " + device + " does not exist"));
    return info.device().orElseThrow(() -> new StorageException(ErrorKind.PRECONDITION,
        device + " is not a block device (" + info.type() + ")"));
  }

  /**
   * What blkid finds on a device, with a low-level probe ({@code -p}: the device itself, not
   * blkid's cache). Exit 2 ("nothing found") is believed only when blkid said nothing on stderr
   * and the device then proves readable: a size above 0 and a direct read of its first block. An
   * unbound loop device, a vanished device node or a failing disk also make blkid exit 2, and
   * none of them is blank.
   *
   * @throws StorageException UNAVAILABLE when the device cannot be read; INTERNAL when blkid
   *     fails otherwise
   */
  public DeviceSignature probe(HostPath device) {
    CommandResult result = run(timeout, "blkid", "-p", "-o", "export", device.value());
    return switch (result.exitCode()) {
      case 0 -> DeviceSignature.parseExport(result.stdoutText());
      case 2 -> {
        if (!result.stderrText().isBlank()) {
          throw result.failure(ErrorKind.INTERNAL, "blkid could not probe " + device
              + "; it is not treated as blank");
        }
        requireReadable(device);
        yield DeviceSignature.BLANK;
      }
      // 8: several signatures that contradict each other; that is not blank either.
      case 8 -> new DeviceSignature(Optional.of("ambivalent (several signatures)"),
          Optional.empty());
      default -> throw result.failure(ErrorKind.INTERNAL, "cannot probe " + device);
    };
  }

  private void requireReadable(HostPath device) {
    if (blockDeviceSize(device) <= 0) {
      throw new StorageException(ErrorKind.UNAVAILABLE, device + " has a size of 0 bytes: it "
          + "cannot be probed, so it is not treated as blank (never formatted)");
    }
    CommandResult read = run(timeout, "dd", "if=" + device.value(), "of=/dev/null", "bs=4096",
        "count=1", "iflag=direct", "status=none");
    if (!read.succeeded()) {
      throw read.failure(ErrorKind.UNAVAILABLE, "cannot read the first block of " + device
          + ": blkid found no signature on a device it could not read, so it is not treated "
          + "as blank (never formatted)");
    }
  }

  /** Space and inodes of the filesystem mounted at (or containing) a path. */
  public FilesystemStats filesystemStats(HostPath path) {
    return FilesystemStats.parse(mustRun(timeout, "cannot read the filesystem statistics of "
        + path, "stat", "-f", "-c", FilesystemStats.FORMAT, path.value()).stdoutText());
  }

  /** The size of a block device in bytes. */
  public long blockDeviceSize(HostPath device) {
    String out = mustRun(timeout, "cannot read the size of " + device,
        "blockdev", "--getsize64", device.value()).stdoutText().strip();
    try {
      return Long.parseLong(out);
    } catch (NumberFormatException e) {
      throw new StorageException(ErrorKind.INTERNAL, "blockdev printed '" + out
          + "' for the size of " + device);
    }
  }

  // ---- mounting -------------------------------------------------------------------------------

  /** What {@link #mountDevice} found and did. */
  public enum DeviceMount {
    /** The device's filesystem was mounted there already; nothing was done. */
    FOUND,
    /** The existing filesystem was mounted. */
    MOUNTED,
    /** The device was blank: a filesystem was made (filling the device) and mounted. */
    FORMATTED
  }

  /**
   * Mounts the filesystem of a block device at {@code target}, making the filesystem first when
   * the device is blank. Idempotent.
   *
   * @param fsType ext4 or xfs
   * @param options mount options ({@code -o}), already checked ({@link MountFlags});
   *     {@code ro} makes it read-only
   * @return what was found and done
   * @throws StorageException ALREADY_EXISTS when something else, or this device with another
   *     filesystem type or read-only setting, is mounted at the target; PRECONDITION when the
   *     device holds a signature other than a {@code fsType} filesystem (never formatted), or
   *     the target is not a directory; NOT_FOUND when the device is missing
   */
  public DeviceMount mountDevice(HostPath device, HostPath target, String fsType,
      List<String> options) {
    if (!DEVICE_FILESYSTEMS.contains(fsType)) {
      throw new StorageException(ErrorKind.INVALID, "cannot make or mount filesystem type '"
          + fsType + "' on a device; supported: ext4, xfs");
    }
    DeviceNumber number = blockDevice(device);
    boolean readOnly = options.contains("ro");
    Optional<MountEntry> present = mounts().top(target);
    if (present.isPresent()) {
      MountEntry m = present.get();
      if (m.isWholeFilesystemOf(number) && m.fsType().equals(fsType)
          && m.readOnly() == readOnly) {
        return DeviceMount.FOUND;
      }
      throw new StorageException(ErrorKind.ALREADY_EXISTS, target + " already has "
          + m.describe() + "; wanted " + device + " (" + fsType + (readOnly ? ", ro" : ", rw")
          + ")");
    }
    ensureDirectory(target);
    DeviceSignature signature = probe(device);
    boolean blank = signature.blank();
    if (blank) {
      makeFilesystem(device, fsType);
    } else if (!signature.isFilesystem(fsType)) {
      throw new StorageException(ErrorKind.PRECONDITION, device + " holds "
          + signature.describe() + ", not an empty device or a " + fsType
          + " filesystem; it is left untouched (never reformatted)");
    }
    List<String> argv = new ArrayList<>(List.of("mount", "-t", fsType));
    List<String> flags = new ArrayList<>(options);
    if (fsType.equals("xfs") && !flags.contains("nouuid")) {
      // A restored snapshot or clone carries its source's filesystem UUID, and XFS refuses to
      // mount a second filesystem with a UUID already mounted.
      flags.add("nouuid");
    }
    if (!flags.isEmpty()) {
      argv.addAll(List.of("-o", String.join(",", flags)));
    }
    argv.addAll(List.of(device.value(), target.value()));
    mustRun(timeout, "cannot mount " + device + " at " + target, argv);
    return blank ? DeviceMount.FORMATTED : DeviceMount.MOUNTED;
  }

  /**
   * Bind mounts the filesystem mounted at {@code source}, which must be the volume's, onto the
   * directory {@code target} (created if missing), with per-mount flags. Idempotent.
   *
   * @param volume what must be mounted at the source: a staging path holding anything else is
   *     never handed on
   * @param flags per-mount flags set on the bind ({@link MountFlags}; {@code ro} makes it
   *     read-only); empty for a plain bind
   * @throws StorageException PRECONDITION when nothing, or not the volume, is mounted at the
   *     source (not staged, dataset not mounted), or the target is not a directory;
   *     ALREADY_EXISTS when something else is mounted at the target, or it is read-only and
   *     read-write is asked
   */
  public void bindFilesystem(HostPath source, HostPath target, VolumeSource volume,
      List<String> flags) {
    MountTable table = mounts();
    MountEntry from = table.top(source).orElseThrow(() -> new StorageException(
        ErrorKind.PRECONDITION, "nothing is mounted at " + source + "; cannot bind it to "
            + target));
    if (!holds(from, source, volume, table)) {
      throw new StorageException(ErrorKind.PRECONDITION, source + " shows " + from.describe()
          + ", not " + volume.describe() + "; it is not bound to " + target);
    }
    boolean readOnly = flags.contains("ro");
    Optional<MountEntry> present = table.top(target);
    if (present.isPresent()) {
      if (!present.get().sameContent(from)) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, target + " already has "
            + present.get().describe() + ", not " + from.describe());
      }
      reconcileReadOnly(present.get(), target, readOnly);
      return;
    }
    ensureDirectory(target);
    bind(source, target, flags);
  }

  /**
   * Bind mounts a block device node onto the file {@code target} (created empty if missing),
   * read-only if asked. Idempotent.
   *
   * @throws StorageException ALREADY_EXISTS when another device or filesystem is mounted at the
   *     target; PRECONDITION when the target exists and is not a regular file; NOT_FOUND when
   *     the device is missing
   */
  public void bindBlockDevice(HostPath device, HostPath target, boolean readOnly) {
    DeviceNumber number = blockDevice(device);
    Optional<MountEntry> present = mounts().top(target);
    if (present.isPresent()) {
      Optional<DeviceNumber> there = stat(target, true).flatMap(FileInfo::device);
      if (there.isEmpty() || !there.get().equals(number)) {
        throw new StorageException(ErrorKind.ALREADY_EXISTS, target + " already has "
            + present.get().describe() + ", not the device " + device + " (" + number + ")");
      }
      reconcileReadOnly(present.get(), target, readOnly);
      return;
    }
    Optional<FileInfo> info = inspect(target);
    if (info.isEmpty()) {
      mustRun(timeout, "cannot create the block target file " + target, "touch", target.value());
    } else if (info.get().type() != FileInfo.Type.REGULAR_FILE) {
      throw new StorageException(ErrorKind.PRECONDITION, target + " exists and is a "
          + info.get().type() + ", not a file a block device can be bound onto");
    }
    bind(device, target, readOnly ? List.of("ro") : List.of());
  }

  /**
   * Unmounts the volume's mounts stacked on {@code target}, top first, and nothing else.
   * Nothing mounted, or no such path: success.
   *
   * @param volume the volume whose mounts may be undone
   * @return how many mounts were removed
   * @throws StorageException PRECONDITION when something that is not the volume's is mounted
   *     there (it is left mounted) or the target is busy
   */
  public int unmount(HostPath target, VolumeSource volume) {
    int unmounted = 0;
    while (true) {
      MountTable table = mounts();
      Optional<MountEntry> top = table.top(target);
      if (top.isEmpty()) {
        return unmounted;
      }
      if (!holds(top.get(), target, volume, table)) {
        throw new StorageException(ErrorKind.PRECONDITION, target + " has "
            + top.get().describe() + " mounted, which is not " + volume.describe()
            + "; it is left alone (this driver unmounts only the volume's own mounts)");
      }
      if (unmounted >= MAX_STACKED) {
        throw new StorageException(ErrorKind.INTERNAL, target + " still has mounts after "
            + MAX_STACKED + " unmounts; something keeps mounting there");
      }
      CommandResult result = run(timeout, "umount", target.value());
      if (!result.succeeded()) {
        String err = result.stderrText();
        if (err.contains("target is busy")) {
          throw result.failure(ErrorKind.PRECONDITION, target + " is in use and stays mounted "
              + "(never forced or lazily unmounted); stop what uses it and retry");
        }
        if (!err.contains("not mounted")) {
          throw result.failure(ErrorKind.INTERNAL, "cannot unmount " + target);
        }
      }
      unmounted++;
    }
  }

  /**
   * Removes what a publish created at {@code target} once nothing is mounted there: an empty
   * directory ({@code rmdir}) or an empty regular file (a block target, {@code rm}). No such
   * path: success.
   *
   * @throws StorageException PRECONDITION when something is still mounted there, or the path
   *     holds data (a directory with content, a file that is not empty) or is another kind of
   *     file: this driver made none of those, and they are left as they are
   */
  public void removeTarget(HostPath target) {
    if (mounts().isMountPoint(target)) {
      throw new StorageException(ErrorKind.PRECONDITION, target + " is still a mount point; "
          + "it is not removed");
    }
    Optional<FileInfo> info = inspect(target);
    if (info.isEmpty()) {
      return;
    }
    switch (info.get().type()) {
      case DIRECTORY -> {
        CommandResult result = run(timeout, "rmdir", target.value());
        if (!result.succeeded() && inspect(target).isPresent()) {
          throw result.failure(result.stderrText().contains("not empty")
              ? ErrorKind.PRECONDITION : ErrorKind.INTERNAL, "cannot remove " + target
              + " after unmounting it; its content is left as it is");
        }
      }
      case REGULAR_FILE -> {
        if (info.get().sizeBytes() != 0) {
          throw new StorageException(ErrorKind.PRECONDITION, target + " is a file of "
              + info.get().sizeBytes() + " bytes, not the empty file this driver binds a "
              + "device onto; it is left as it is");
        }
        mustRun(timeout, "cannot remove " + target, "rm", target.value());
      }
      default -> throw new StorageException(ErrorKind.PRECONDITION, target + " is a "
          + info.get().type() + "; only a directory or file this driver created is removed");
    }
  }

  /**
   * Whether the mount on top of {@code at} shows this volume: the whole filesystem of its
   * device, its device node bound there, or its ZFS dataset (at its mountpoint, or bound
   * elsewhere).
   *
   * @param top the top mount at {@code at}, from {@code table}
   */
  public boolean holds(MountEntry top, HostPath at, VolumeSource volume, MountTable table) {
    return switch (volume) {
      case VolumeSource.Device d -> shows(top, at, d.device())
          || d.opened().isPresent() && shows(top, at, d.opened().get());
      case VolumeSource.Dataset d -> {
        Optional<MountEntry> own = table.top(d.mountpoint())
            .filter(e -> e.fsType().equals("zfs") && e.fsRoot().equals("/"));
        yield top.fsType().equals("zfs") && (own.isPresent() ? top.sameContent(own.get())
            : top.fsRoot().equals("/") && top.source().endsWith("/" + d.name()));
      }
      case VolumeSource.None n -> false;
    };
  }

  /** Whether the mount shows the whole filesystem of the device, or its node bound there. */
  private boolean shows(MountEntry top, HostPath at, HostPath device) {
    Optional<DeviceNumber> number = existingDevice(device);
    return number.isPresent() && (top.isWholeFilesystemOf(number.get())
        || stat(at, true).flatMap(FileInfo::device).equals(number));
  }

  /** The device number of a device path; empty when there is no device there. */
  private Optional<DeviceNumber> existingDevice(HostPath device) {
    return stat(device, true).flatMap(FileInfo::device);
  }

  // ---- growth ---------------------------------------------------------------------------------

  /**
   * Grows the filesystem of {@code device}, mounted at {@code mountPoint}, to fill the device:
   * {@code resize2fs <device>} for ext4, {@code xfs_growfs -d <mountPoint>} for xfs. A
   * filesystem that already fills its device is left as it is.
   *
   * @throws StorageException PRECONDITION when the kernel refuses an online resize for lack of
   *     privilege, INVALID for another filesystem type
   */
  public void growFilesystem(HostPath device, HostPath mountPoint, String fsType) {
    CommandResult result = switch (fsType) {
      case "ext4" -> run(longTimeout, "resize2fs", device.value());
      case "xfs" -> run(longTimeout, "xfs_growfs", "-d", mountPoint.value());
      default -> throw new StorageException(ErrorKind.INVALID, "cannot grow a " + fsType
          + " filesystem; supported: ext4, xfs");
    };
    if (!result.succeeded()) {
      if (result.stderrText().contains("Permission denied")) {
        throw result.failure(ErrorKind.PRECONDITION, "the kernel refused to grow " + fsType
            + " on " + device + " while mounted: the driver needs CAP_SYS_RESOURCE "
            + "(a privileged container)");
      }
      throw result.failure(ErrorKind.INTERNAL, "cannot grow the " + fsType + " filesystem on "
          + device);
    }
  }

  /**
   * The size of the filesystem on {@code device}, as its superblock says: {@code dumpe2fs -h}
   * for ext4, {@code xfs_io -r -c statfs} at the mount point for xfs.
   *
   * @throws StorageException INTERNAL when the tool fails or says something unreadable; INVALID
   *     for another filesystem type
   */
  public FilesystemSize filesystemSize(HostPath device, HostPath mountPoint, String fsType) {
    return switch (fsType) {
      case "ext4" -> FilesystemSize.parseDumpe2fs(mustRun(timeout, "cannot read the ext4 "
          + "superblock of " + device, "dumpe2fs", "-h", device.value()).stdoutText());
      case "xfs" -> FilesystemSize.parseXfsStatfs(mustRun(timeout, "cannot read the xfs "
          + "geometry at " + mountPoint, "xfs_io", "-r", "-c", "statfs", mountPoint.value())
          .stdoutText());
      default -> throw new StorageException(ErrorKind.INVALID, "cannot read the size of a "
          + fsType + " filesystem; supported: ext4, xfs");
    };
  }

  /**
   * Grows the filesystem of {@code device}, mounted at {@code mountPoint}, when the device is
   * larger than it by more than one filesystem block: what a restore or clone into a larger
   * volume needs, since its filesystem keeps its source's size and no CO calls NodeExpandVolume
   * for a new volume. Kubernetes' mount utilities make the same comparison at stage. Never
   * shrinks: a filesystem as large as its device or larger is left as it is.
   *
   * @return whether the filesystem was grown
   * @throws StorageException as {@link #growFilesystem}, or when a size cannot be read
   */
  public boolean growToDevice(HostPath device, HostPath mountPoint, String fsType) {
    long deviceBytes = blockDeviceSize(device);
    FilesystemSize fs = filesystemSize(device, mountPoint, fsType);
    if (deviceBytes <= fs.bytes() + fs.blockSize()) {
      return false;
    }
    growFilesystem(device, mountPoint, fsType);
    return true;
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * ext4: {@code -m 0} (a volume belongs to one application; root's 5 % reserve would only
   * hide space), lazy inode table and journal initialisation and no discard: a new thin LV or
   * zvol reads as zeros already, so writing zeros or discarding would cost time proportional to
   * the size (and, on a thin pool, allocate space) for nothing. xfs: {@code -K} (no discard),
   * for the same reason. Neither tool is forced: without {@code -f}, mkfs.xfs refuses a device
   * with a filesystem on its own.
   */
  private void makeFilesystem(HostPath device, String fsType) {
    List<String> argv = fsType.equals("ext4")
        ? List.of("mkfs.ext4", "-q", "-m", "0", "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard", device.value())
        : List.of("mkfs.xfs", "-q", "-K", device.value());
    mustRun(longTimeout, "cannot make an " + fsType + " filesystem on " + device, argv);
  }

  /**
   * {@code mount --bind}, then, when flags are asked for, {@code mount -o remount,bind,<flags>}
   * (a bind takes its source's per-mount flags; only a remount changes them, and mount(8) keeps
   * those it is not told about).
   */
  private void bind(HostPath source, HostPath target, List<String> flags) {
    mustRun(timeout, "cannot bind " + source + " to " + target,
        "mount", "--bind", source.value(), target.value());
    if (!flags.isEmpty()) {
      try {
        mustRun(timeout, "cannot set " + String.join(",", flags) + " on " + target,
            "mount", "-o", "remount,bind," + String.join(",", flags), target.value());
      } catch (StorageException e) {
        // Never leave a writable or unrestricted bind where a restricted one was asked for.
        run(timeout, "umount", target.value());
        throw e;
      }
    }
  }

  /**
   * A bind found in place: a read-only request makes a writable bind read-only (the state a crash
   * between bind and remount leaves); a read-write request on a read-only bind is a conflict.
   */
  private void reconcileReadOnly(MountEntry present, HostPath target, boolean readOnly) {
    if (readOnly && !present.readOnly()) {
      remountReadOnly(target);
    } else if (!readOnly && present.readOnly()) {
      throw new StorageException(ErrorKind.ALREADY_EXISTS, target
          + " is already mounted read-only; read-write was asked");
    }
  }

  private void remountReadOnly(HostPath target) {
    mustRun(timeout, "cannot make " + target + " read-only",
        "mount", "-o", "remount,bind,ro", target.value());
  }

  private void ensureDirectory(HostPath target) {
    Optional<FileInfo> info = inspect(target);
    if (info.isEmpty()) {
      mustRun(timeout, "cannot create " + target, "mkdir", "-p", target.value());
    } else if (info.get().type() != FileInfo.Type.DIRECTORY) {
      throw new StorageException(ErrorKind.PRECONDITION, target + " exists and is a "
          + info.get().type() + ", not a directory to mount on");
    }
  }

  private Optional<FileInfo> stat(HostPath path, boolean follow) {
    List<String> argv = follow
        ? List.of("stat", "-L", "-c", FileInfo.FORMAT, path.value())
        : List.of("stat", "-c", FileInfo.FORMAT, path.value());
    CommandResult result = runner.run(Command.of(timeout, argv));
    if (result.succeeded()) {
      return Optional.of(FileInfo.parse(result.stdoutText()));
    }
    if (result.stderrText().contains("No such file or directory")) {
      return Optional.empty();
    }
    throw result.failure(ErrorKind.INTERNAL, "cannot inspect " + path);
  }

  private CommandResult run(Duration limit, String... argv) {
    return runner.run(Command.of(limit, argv));
  }

  private CommandResult mustRun(Duration limit, String message, String... argv) {
    return mustRun(limit, message, List.of(argv));
  }

  private CommandResult mustRun(Duration limit, String message, List<String> argv) {
    CommandResult result = runner.run(Command.of(limit, argv));
    if (!result.succeeded()) {
      throw result.failure(ErrorKind.INTERNAL, message);
    }
    return result;
  }
}
