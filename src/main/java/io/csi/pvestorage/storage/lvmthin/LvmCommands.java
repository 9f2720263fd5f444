package io.csi.pvestorage.storage.lvmthin;

import io.csi.pvestorage.exec.Command;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The LVM command lines of the thin backend, as pure functions from validated names to
 * {@link Command}s. They follow PVE's LvmThinPlugin (pve-storage-semantics.md sections 2 and 7)
 * except where a method says otherwise. Arguments are never interpreted by a shell.
 *
 * <p>Timeouts: PVE runs LVM without one. Here every command has one, so that a hung device or
 * a stuck LVM lock turns into an UNAVAILABLE error instead of a hung RPC: {@link #LIST_TIMEOUT}
 * for reports, {@link #CHANGE_TIMEOUT} for metadata changes (they wait for LVM's own VG lock,
 * which another command may hold for a while).
 */
public final class LvmCommands {

  public static final Duration LIST_TIMEOUT = Duration.ofSeconds(60);
  public static final Duration CHANGE_TIMEOUT = Duration.ofSeconds(120);

  /**
   * The {@code lvs} columns every listing reads. {@code vg_extent_size} is a VG column that
   * lvs repeats on each row: it is the unit LVM rounds sizes to, which {@code volume_resize}
   * needs, without a second ({@code vgs}) call.
   */
  public static final String LVS_COLUMNS = "vg_name,vg_extent_size,lv_name,lv_size,lv_attr,"
      + "pool_lv,origin,data_percent,metadata_percent,lv_metadata_size,lv_tags,lv_time";

  private LvmCommands() {}

  /**
   * Every LV of the VG in one JSON report with exact byte sizes and epoch-second times. Hidden
   * LVs (the pool's {@code [data_tdata]}) are not listed.
   */
  public static Command lvs(String vg) {
    return Command.of(LIST_TIMEOUT, "lvs", "--reportformat", "json", "--units", "b",
        "--nosuffix", "--config", "report/time_format=\"%s\"", "-o", LVS_COLUMNS, vg);
  }

  /** One LV ({@code VG/LV}) in the report of {@link #lvs}. */
  public static Command lvsOne(String vg, String lv) {
    return Command.of(LIST_TIMEOUT, "lvs", "--reportformat", "json", "--units", "b",
        "--nosuffix", "--config", "report/time_format=\"%s\"", "-o", LVS_COLUMNS,
        vg + "/" + lv);
  }

  /**
   * A new thin volume, tagged in the same command: PVE's {@code lvcreate -aly -V <KiB>k --name N
   * --thinpool VG/POOL} plus {@code --addtag} per tag.
   */
  public static Command createThin(
      String vg, String pool, String name, long sizeKib, List<String> tags) {
    List<String> argv = new ArrayList<>(List.of("lvcreate", "-aly", "-V", sizeKib + "k",
        "--name", name, "--thinpool", vg + "/" + pool));
    addTags(argv, tags);
    return Command.of(CHANGE_TIMEOUT, argv);
  }

  /** A read-only thin snapshot (PVE's {@code volume_snapshot}), tagged in the same command. */
  public static Command createSnapshot(String vg, String volume, String snapLv, List<String> tags) {
    List<String> argv = new ArrayList<>(List.of("lvcreate", "-n", snapLv, "-pr", "-s",
        vg + "/" + volume));
    addTags(argv, tags);
    return Command.of(CHANGE_TIMEOUT, argv);
  }

  /**
   * A golden image's base, made in one command: a thin snapshot of the volume under the base's
   * name, read-only and skipping activation ({@code -pr -ky}), which is what PVE's {@code
   * create_base} leaves a volume as after its {@code lvrename} and {@code lvchange -pr -ky}. The
   * tags (the CSI name and the source volume) are written by the same command.
   */
  public static Command createGoldenBase(String vg, String volume, String base, List<String> tags) {
    List<String> argv = new ArrayList<>(List.of("lvcreate", "-n", base, "-pr", "-ky", "-s",
        vg + "/" + volume));
    addTags(argv, tags);
    return Command.of(CHANGE_TIMEOUT, argv);
  }

  /**
   * A writable thin snapshot of a snapshot or a base, i.e. a linked clone (PVE's {@code
   * clone_image}): {@code -kn} clears the activation skip that thin snapshots get by default.
   */
  public static Command createClone(String vg, String source, String name, List<String> tags) {
    List<String> argv = new ArrayList<>(List.of("lvcreate", "-n", name, "-prw", "-kn", "-s",
        vg + "/" + source));
    addTags(argv, tags);
    return Command.of(CHANGE_TIMEOUT, argv);
  }

  /**
   * Turns off boot-time autoactivation of a new thin LV. lvcreate does not take the flag for
   * thin LVs, hence a second command (PVE 2796d6b).
   */
  public static Command disableAutoactivation(String vg, String lv) {
    return Command.of(CHANGE_TIMEOUT, "lvchange", "--setautoactivation", "n", vg + "/" + lv);
  }

  /**
   * Whether boot-time autoactivation is on for one LV: a JSON report of its {@code
   * lv_autoactivation} column, which lvm2 2.03.16 prints as {@code "enabled"} or {@code ""};
   * with {@code --binary} as {@code "1"} or {@code "0"}, which cannot be mistaken for a column
   * LVM left empty. Kept out of {@link #lvs}: lvm2 before 2.03.12 has no such column and would
   * refuse the whole listing.
   */
  public static Command autoactivation(String vg, String lv) {
    return Command.of(LIST_TIMEOUT, "lvs", "--reportformat", "json", "--binary", "-o",
        "lv_name,lv_autoactivation", vg + "/" + lv);
  }

  /** Removes one LV without asking ({@code -f}, as PVE). */
  public static Command remove(String vg, String lv) {
    return Command.of(CHANGE_TIMEOUT, "lvremove", "-f", vg + "/" + lv);
  }

  public static Command rename(String vg, String from, String to) {
    return Command.of(CHANGE_TIMEOUT, "lvrename", vg, from, to);
  }

  /** Read-only plus activation skip, for a new base (kept apart from deactivation: 7b41368). */
  public static Command makeReadOnlySkipped(String vg, String lv) {
    return Command.of(CHANGE_TIMEOUT, "lvchange", "-pr", "-ky", vg + "/" + lv);
  }

  /** Activates even an LV with activation skip (snapshots, bases): {@code -K}. */
  public static Command activate(String vg, String lv) {
    return Command.of(CHANGE_TIMEOUT, "lvchange", "-ay", "-K", vg + "/" + lv);
  }

  public static Command deactivate(String vg, String lv) {
    return Command.of(CHANGE_TIMEOUT, "lvchange", "-an", vg + "/" + lv);
  }

  /**
   * Grows an LV to {@code sizeKib}: PVE's {@code lvextend -L <KiB>k /dev/VG/N}, addressed as
   * {@code VG/N} like every other command here.
   */
  public static Command extend(String vg, String lv, long sizeKib) {
    return Command.of(CHANGE_TIMEOUT, "lvextend", "-L", sizeKib + "k", vg + "/" + lv);
  }

  private static void addTags(List<String> argv, List<String> tags) {
    for (String tag : tags) {
      argv.add("--addtag");
      argv.add(tag);
    }
  }
}
