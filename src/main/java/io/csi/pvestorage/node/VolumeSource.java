package io.csi.pvestorage.node;

import java.util.Objects;
import java.util.Optional;

/**
 * What of one volume can be mounted, so that its mounts are told apart from anything else
 * mounted at a path: before an unmount (only the volume's own mounts are undone), before a
 * publish binds a staging path (only the volume's own filesystem is handed to a pod), and when
 * stats are read.
 */
public sealed interface VolumeSource {

  /** For messages: what the volume's mounts would show. */
  String describe();

  /**
   * A raw volume: the filesystem on its block device (mounted at staging, bound at targets), or
   * the device node itself bound onto a file (block access). Matched by device number, however
   * the device is named.
   *
   * @param device the volume's device path ({@code /dev/<vg>/<lv>}, {@code /dev/zvol/...})
   * @param opened where the volume's opened LUKS2 container would be ({@code /dev/mapper/...}),
   *     whose filesystem or node then stands for the volume; empty for a volume that is never
   *     encrypted. It is looked at only when a mount is not of the device itself.
   */
  record Device(HostPath device, Optional<HostPath> opened) implements VolumeSource {
    public Device {
      Objects.requireNonNull(device, "device");
      Objects.requireNonNull(opened, "opened");
    }

    /** A device without an encrypted container. */
    public Device(HostPath device) {
      this(device, Optional.empty());
    }

    @Override
    public String describe() {
      return "the device " + device + opened.map(o -> " (or its opened container " + o + ")")
          .orElse("");
    }
  }

  /**
   * A ZFS dataset: its own mount at its mountpoint, and binds of it. Matched as the same
   * filesystem as the mount at the mountpoint; when the dataset is not mounted there, by a ZFS
   * mount of a dataset with this name.
   *
   * @param mountpoint the dataset's own mountpoint
   * @param name the dataset's last name component ({@code subvol-0-...})
   */
  record Dataset(HostPath mountpoint, String name) implements VolumeSource {
    public Dataset {
      Objects.requireNonNull(mountpoint, "mountpoint");
      Objects.requireNonNull(name, "name");
    }

    @Override
    public String describe() {
      return "the ZFS dataset " + name;
    }
  }

  /**
   * Nothing this driver could have mounted: a volume ID it never issued, a storage this node
   * does not serve, a volume that does not exist. Nothing mounted anywhere matches it.
   *
   * @param why what the volume is, for messages
   */
  record None(String why) implements VolumeSource {
    public None {
      Objects.requireNonNull(why, "why");
    }

    @Override
    public String describe() {
      return why;
    }
  }
}
