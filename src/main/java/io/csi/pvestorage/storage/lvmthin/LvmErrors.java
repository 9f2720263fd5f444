package io.csi.pvestorage.storage.lvmthin;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.CommandResult;
import java.util.regex.Pattern;

/**
 * Classifies a failed LVM command from its exit code and standard error, the only place where
 * this backend reads stderr. The tool's stderr always stays in the exception
 * ({@link StorageException#stderr()}), so the operator sees LVM's own words.
 *
 * <p>LVM exits 5 ({@code ECMD_FAILED}) for every failure below and 3 for a command line it
 * cannot parse; the stderr text says which failure it was. The patterns were taken from lvm2
 * 2.03.16 and are pinned by tests on the recorded stderr in {@code
 * src/test/resources/fixtures/lvm/2.03.16/}:
 *
 * <table>
 *   <caption>LVM failures and their kinds</caption>
 *   <tr><th>failure</th><th>stderr (pattern)</th><th>kind</th><th>fixture</th></tr>
 *   <tr><td>{@link Failure#ALREADY_EXISTS}</td>
 *       <td>{@code Logical Volume "X" already exists in volume group "VG"}</td>
 *       <td>ALREADY_EXISTS</td><td>lvcreate-existing, lvrename-existing</td></tr>
 *   <tr><td>{@link Failure#POOL_NOT_FOUND}</td>
 *       <td>{@code Pool X not found in Volume group VG.}</td>
 *       <td>NOT_FOUND</td><td>lvcreate-missing-pool</td></tr>
 *   <tr><td>{@link Failure#VG_NOT_FOUND}</td><td>{@code Volume group "VG" not found}</td>
 *       <td>NOT_FOUND</td><td>lvcreate-missing-vg, lvs-missing-vg</td></tr>
 *   <tr><td>{@link Failure#LV_NOT_FOUND}</td>
 *       <td>{@code Failed to find logical volume "VG/X"}, {@code ... not found in volume group}
 *       </td><td>NOT_FOUND</td><td>lvremove-missing, lvs-missing, lvchange-missing,
 *       lvcreate-snapshot-missing-origin</td></tr>
 *   <tr><td>{@link Failure#NO_SPACE}</td>
 *       <td>{@code free space in thin pool ... reached threshold}, {@code out of data space},
 *       {@code insufficient free space}</td><td>EXHAUSTED</td>
 *       <td>lvcreate-in-full-pool, lvcreate-thick-larger-than-vg</td></tr>
 *   <tr><td>{@link Failure#IN_USE}</td>
 *       <td>{@code contains a filesystem in use}, {@code in use}, {@code open logical volume},
 *       {@code Device or resource busy}</td><td>PRECONDITION</td><td>lvremove-open</td></tr>
 *   <tr><td>{@link Failure#SIZE_NOT_LARGER}</td>
 *       <td>{@code not larger than existing size}, {@code matches existing size}</td>
 *       <td>OUT_OF_RANGE</td><td>lvextend-smaller, lvextend-equal</td></tr>
 *   <tr><td>{@link Failure#OTHER}</td><td>anything else, including exit 3 (a command line LVM
 *       refused: a bug here, since arguments are validated first)</td><td>INTERNAL</td>
 *       <td>lvcreate-tag-with-comma</td></tr>
 * </table>
 *
 * <p>The first matching row wins, in the order of the table (a missing pool is reported before
 * the generic "not found").
 */
public final class LvmErrors {

  /** What went wrong, with the kind it maps to. */
  public enum Failure {
    ALREADY_EXISTS(ErrorKind.ALREADY_EXISTS,
        "already exists in volume group"),
    POOL_NOT_FOUND(ErrorKind.NOT_FOUND,
        "Pool \\S+ not found in Volume group"),
    VG_NOT_FOUND(ErrorKind.NOT_FOUND,
        "Volume group \"[^\"]*\" not found"),
    LV_NOT_FOUND(ErrorKind.NOT_FOUND,
        "Failed to find logical volume|not found in volume group"),
    NO_SPACE(ErrorKind.EXHAUSTED,
        "reached threshold|out of (data|metadata) space|insufficient (suitable )?(allocatable )?"
            + "(free )?(space|extents)"),
    IN_USE(ErrorKind.PRECONDITION,
        "in use\\b|open logical volume|Device or resource busy|is used by another device"),
    SIZE_NOT_LARGER(ErrorKind.OUT_OF_RANGE,
        "not larger than existing size|matches existing size"),
    OTHER(ErrorKind.INTERNAL, null);

    private final ErrorKind kind;
    private final Pattern pattern;

    Failure(ErrorKind kind, String regex) {
      this.kind = kind;
      this.pattern = regex == null ? null : Pattern.compile(regex, Pattern.CASE_INSENSITIVE);
    }

    public ErrorKind kind() {
      return kind;
    }
  }

  /** LVM's exit code for a command line it refused ({@code EINVALID_CMD_LINE}). */
  static final int EXIT_INVALID_COMMAND_LINE = 3;

  private LvmErrors() {}

  /**
   * Which failure a finished, failed command reports.
   *
   * @throws IllegalArgumentException for a command that succeeded
   */
  public static Failure classify(CommandResult result) {
    if (result.succeeded()) {
      throw new IllegalArgumentException("the command succeeded: " + result.command().display());
    }
    if (result.exitCode() == EXIT_INVALID_COMMAND_LINE) {
      return Failure.OTHER;
    }
    String stderr = result.stderrText();
    for (Failure failure : Failure.values()) {
      if (failure.pattern != null && failure.pattern.matcher(stderr).find()) {
        return failure;
      }
    }
    return Failure.OTHER;
  }

  /**
   * The exception for a failed command: the kind from {@link #classify}, a message that says
   * what was being done, and the command, exit code and stderr.
   *
   * @param doing what the command was for, e.g. "cannot create vm-100-disk-0"
   */
  public static StorageException failure(CommandResult result, String doing) {
    return result.failure(classify(result).kind(), doing + ": " + lastLine(result));
  }

  /** LVM's own last word on a failure (the last line of stderr), or the exit code. */
  static String lastLine(CommandResult result) {
    String stderr = result.stderrText().strip();
    return stderr.isEmpty() ? "exit " + result.exitCode()
        : stderr.substring(stderr.lastIndexOf('\n') + 1).strip();
  }
}
