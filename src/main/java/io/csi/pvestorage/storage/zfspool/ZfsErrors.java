package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandResult;
import java.util.List;
import java.util.Locale;

/**
 * Classifies a failed {@code zfs} command by its exit code and standard error. The stderr is
 * always kept in the resulting {@link StorageException} ({@link StorageException#describe()}).
 * zfs exits 1 for every failure below (2 for usage errors), so the text decides; matching is
 * on fragments, case-insensitive, because prefixes vary ({@code cannot open}, {@code cannot
 * destroy}, ...; PVE loosened its own patterns for the same reason, fix #6845). The first row
 * that matches wins.
 *
 * <table>
 *   <caption>zfs stderr → kind</caption>
 *   <tr><th>stderr contains</th><th>kind</th><th>example (recorded, OpenZFS 2.1.11)</th></tr>
 *   <tr><td>{@code no such pool}</td><td>UNAVAILABLE</td>
 *       <td>{@code cannot open 'nosuchpool': no such pool} (zfs create) — pool missing or
 *       not imported; never taken as "volume already gone". Note: {@code zfs list
 *       nosuchpool/data} says {@code dataset does not exist} instead (recorded), so a listing of
 *       a missing pool is NOT_FOUND; every delete lists first, so it fails rather than
 *       reporting success</td></tr>
 *   <tr><td>{@code dataset already exists}</td><td>ALREADY_EXISTS</td>
 *       <td>{@code cannot create 'rpool/data/vm-200-disk-0': dataset already exists}</td></tr>
 *   <tr><td>{@code does not exist}, {@code could not find any snapshots}</td><td>NOT_FOUND</td>
 *       <td>{@code cannot open 'rpool/data/vm-999-disk-0': dataset does not exist};
 *       {@code parent does not exist}</td></tr>
 *   <tr><td>{@code is busy}</td><td>PRECONDITION (retried first where PVE retries)</td>
 *       <td>{@code cannot destroy '...': dataset is busy}</td></tr>
 *   <tr><td>{@code dependent clones}, {@code has children}</td><td>PRECONDITION</td>
 *       <td>{@code snapshot has dependent clones}; {@code volume has children}</td></tr>
 *   <tr><td>{@code out of space}, {@code greater than available space},
 *       {@code quota exceeded}</td><td>EXHAUSTED</td>
 *       <td>{@code cannot create '...': out of space}; {@code cannot set property for '...':
 *       size is greater than available space}</td></tr>
 *   <tr><td>{@code less than current used or reserved space}</td><td>OUT_OF_RANGE</td>
 *       <td>{@code cannot set property for '...': size is less than current used or reserved
 *       space}</td></tr>
 *   <tr><td>{@code invalid property}, {@code bad property}, {@code bad numeric value},
 *       {@code multiple of volume block size}, {@code cannot be zero},
 *       {@code invalid character}, {@code use 'none' to disable}</td><td>INVALID</td>
 *       <td>{@code cannot create '...': volume size must be a multiple of volume block size}</td></tr>
 *   <tr><td>anything else</td><td>INTERNAL</td><td></td></tr>
 * </table>
 */
public final class ZfsErrors {

  private record Rule(List<String> fragments, ErrorKind kind) {}

  private static final List<Rule> RULES = List.of(
      new Rule(List.of("no such pool"), ErrorKind.UNAVAILABLE),
      new Rule(List.of("dataset already exists"), ErrorKind.ALREADY_EXISTS),
      new Rule(List.of("does not exist", "could not find any snapshots"), ErrorKind.NOT_FOUND),
      new Rule(List.of("is busy"), ErrorKind.PRECONDITION),
      new Rule(List.of("dependent clones", "has children"), ErrorKind.PRECONDITION),
      new Rule(List.of("out of space", "greater than available space", "quota exceeded"),
          ErrorKind.EXHAUSTED),
      new Rule(List.of("less than current used or reserved space"), ErrorKind.OUT_OF_RANGE),
      new Rule(List.of("invalid property", "bad property", "bad numeric value",
          "multiple of volume block size", "cannot be zero", "invalid character",
          "use 'none' to disable"), ErrorKind.INVALID));

  private ZfsErrors() {}

  /** The kind of a failed command; INTERNAL when nothing matches (also for exit 0). */
  public static ErrorKind classify(CommandResult result) {
    String err = result.stderrText().toLowerCase(Locale.ROOT);
    for (Rule rule : RULES) {
      for (String fragment : rule.fragments()) {
        if (err.contains(fragment)) {
          return rule.kind();
        }
      }
    }
    return ErrorKind.INTERNAL;
  }

  /** The exception for a failed command: its kind, the message, argv, exit code and stderr. */
  public static StorageException failure(CommandResult result, String message) {
    return result.failure(classify(result), message);
  }

  /** "dataset is busy": the zvol is briefly held (udev, a closing opener); worth a retry. */
  static boolean isBusy(CommandResult result) {
    return !result.succeeded()
        && result.stderrText().toLowerCase(Locale.ROOT).contains("is busy");
  }

  /**
   * The dataset or snapshot addressed does not exist (so a delete has nothing to do). A missing
   * pool is not this: it is UNAVAILABLE, so a delete on an unimported pool never reports
   * success.
   */
  static boolean isMissing(CommandResult result) {
    return !result.succeeded() && classify(result) == ErrorKind.NOT_FOUND;
  }
}
