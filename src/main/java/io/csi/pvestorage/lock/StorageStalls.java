package io.csi.pvestorage.lock;

import java.util.Optional;
import java.util.function.Consumer;

/**
 * Whether a storage has a stalled command: one that changes storage, is never killed, and has
 * run far longer than it should. Its operation still holds the storage's lock, so the lock
 * refuses new callers of that storage at once (ABORTED with this reason) instead of letting
 * them wait until their deadline, and wakes the callers already waiting to refuse them too.
 */
public interface StorageStalls {

  /** No storage ever stalls (tests, tools). */
  StorageStalls NONE = new StorageStalls() {
    @Override
    public Optional<String> stalled(String storeid) {
      return Optional.empty();
    }

    @Override
    public void onStall(Consumer<String> listener) {}
  };

  /** Why {@code storeid} takes no new operation now, for operators; empty when it does. */
  Optional<String> stalled(String storeid);

  /** Calls {@code listener} with the storage ID each time a command of it is found stalled. */
  void onStall(Consumer<String> listener);
}
