package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keys of the calls now running, so that a second concurrent call on the same volume or snapshot
 * is refused with ABORTED (which the CSI sidecars retry) instead of racing the first, as the spec
 * allows. One instance is shared by the Controller and Node services of a process.
 */
public final class InFlight {

  private final Set<String> running = ConcurrentHashMap.newKeySet();

  /** A claim on one key; closing it lets the next call in. */
  public interface Claim extends AutoCloseable {
    @Override
    void close();
  }

  /**
   * Claims {@code kind/key} for the calling operation.
   *
   * @param kind what the key names, e.g. {@code volume name}, {@code volume}, {@code snapshot}
   * @param key the name or ID
   * @throws StorageException ABORTED when another call holds the same key
   */
  public Claim enter(String kind, String key) {
    String id = kind + "\u0000" + key;
    if (!running.add(id)) {
      throw new StorageException(ErrorKind.ABORTED, "an operation on " + kind + " '" + key
          + "' is already in progress; retry when it has finished");
    }
    return () -> running.remove(id);
  }

  /** The number of keys now claimed (for tests and metrics). */
  public int size() {
    return running.size();
  }
}
