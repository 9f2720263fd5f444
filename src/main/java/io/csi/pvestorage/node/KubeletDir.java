package io.csi.pvestorage.node;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The kubelet's root directory ({@code --kubelet-dir}, default {@code /var/lib/kubelet}): the only
 * place where the Node service creates, mounts, unmounts or removes anything a request names.
 * Every staging, target and volume path must lie strictly below it.
 *
 * <p>Checked twice: first as text ({@link #check}, no command: absolute, normalised, no
 * {@code ..}, below the directory), then on the host ({@link #confine}), where the path's existing
 * parents are resolved with {@code realpath}, so that a symbolic link planted inside the
 * kubelet directory cannot lead a mount or an rmdir outside of it. The resolved path is what the
 * service then works on (it is also what the mount table shows). A link swapped in between the
 * check and the mount is not caught; that needs a privileged writer in the kubelet directory,
 * which already owns the node.
 */
public final class KubeletDir {

  private final HostPath root;

  /** @param root the kubelet directory as configured (not resolved) */
  public KubeletDir(HostPath root) {
    this.root = Objects.requireNonNull(root, "root");
  }

  public HostPath root() {
    return root;
  }

  /** A request path and the field it came from. */
  public record Field(String name, HostPath path) {
    public Field {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(path, "path");
    }
  }

  /**
   * Checks a request path as text.
   *
   * @param kind what a bad path is for this call (INVALID; NOT_FOUND for NodeGetVolumeStats)
   * @throws StorageException of that kind naming the field: missing, not a normal absolute path,
   *     or not below the kubelet directory
   */
  public Field check(String field, String text, ErrorKind kind) {
    if (text.isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, field + " is required");
    }
    HostPath path;
    try {
      path = HostPath.of(field, text);
    } catch (StorageException e) {
      throw e.withKind(kind);
    }
    if (!path.isBelow(root)) {
      throw outside(field, path, kind, "");
    }
    return new Field(field, path);
  }

  /**
   * Resolves the paths on the host with one {@code realpath} call and checks that each still
   * lies below the (resolved) kubelet directory.
   *
   * @return the resolved paths, in the order given
   * @throws StorageException of {@code kind} naming the field whose path leads outside
   */
  public List<HostPath> confine(Mounter mounter, ErrorKind kind, Field... fields) {
    List<HostPath> asked = new ArrayList<>();
    asked.add(root);
    for (Field f : fields) {
      asked.add(f.path());
    }
    List<String> resolved = mounter.realPaths(asked);
    HostPath realRoot = usable("the kubelet directory", resolved.get(0), ErrorKind.INTERNAL);
    List<HostPath> out = new ArrayList<>();
    for (int i = 0; i < fields.length; i++) {
      Field f = fields[i];
      HostPath real = usable(f.name(), resolved.get(i + 1), kind);
      if (!real.isBelow(realRoot)) {
        throw outside(f.name(), f.path(), kind, " (it resolves to " + Printable.of(real.value()) + ")");
      }
      out.add(real);
    }
    return out;
  }

  private static HostPath usable(String what, String resolved, ErrorKind kind) {
    try {
      return HostPath.of(what, resolved);
    } catch (StorageException e) {
      throw new StorageException(kind, what + " resolves to a path the driver cannot use: "
          + e.getMessage());
    }
  }

  private StorageException outside(String field, HostPath path, ErrorKind kind, String how) {
    return new StorageException(kind, field + " " + Printable.of(path.value()) + how + " is not below the kubelet "
        + "directory " + root + " (--kubelet-dir); the driver mounts and removes nothing "
        + "elsewhere");
  }
}
