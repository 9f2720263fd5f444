package io.csi.pvestorage.node;

import java.util.List;
import java.util.Optional;

/**
 * The host's mount table at one moment, in mount order: later entries on the same target are
 * stacked on top of earlier ones.
 *
 * @param entries every mount
 */
public record MountTable(List<MountEntry> entries) {

  public MountTable {
    entries = List.copyOf(entries);
  }

  /** The mounts on exactly this path, bottom first (several when mounts were stacked). */
  public List<MountEntry> at(HostPath path) {
    return entries.stream().filter(e -> e.target().equals(path.value())).toList();
  }

  /** The mount a process sees at this path: the top of the stack, if anything is mounted. */
  public Optional<MountEntry> top(HostPath path) {
    List<MountEntry> stack = at(path);
    return stack.isEmpty() ? Optional.empty() : Optional.of(stack.get(stack.size() - 1));
  }

  /** Whether something is mounted on exactly this path. */
  public boolean isMountPoint(HostPath path) {
    return entries.stream().anyMatch(e -> e.target().equals(path.value()));
  }
}
