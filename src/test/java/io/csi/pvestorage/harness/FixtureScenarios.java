package io.csi.pvestorage.harness;

import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.storage.VolumeMetadata;
import io.csi.pvestorage.storage.VolumeNames;
import io.csi.pvestorage.storage.lvmthin.LvTags;
import io.csi.pvestorage.storage.lvmthin.LvmCommands;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What {@link FixtureRecorder} records: scenarios of setup commands and recorded commands, run
 * in the harness guest in order. To add a fixture, add a {@code record(...)} (or {@code
 * recordFailure(...)}) to a scenario, or a new scenario, and run {@code src/test/vm/record-fixtures}.
 *
 * <p>Each scenario must leave the layout as it found it (VG pve with thin pool data, rpool/data
 * empty): its cleanup steps run even when a step fails.
 */
final class FixtureScenarios {

  private FixtureScenarios() {}

  /** The lvs columns the LVM-thin plugin reads, with times as epoch seconds. */
  static final List<String> LVS = List.of("lvs", "--reportformat", "json", "--units", "b", "--nosuffix",
      "--config", "report/time_format=\"%s\"",
      "-o", "vg_name,lv_name,lv_size,lv_attr,pool_lv,origin,data_percent,metadata_percent,lv_metadata_size,lv_tags,lv_time");
  static final List<String> VGS = List.of("vgs", "--reportformat", "json", "--units", "b", "--nosuffix",
      "-o", "vg_name,vg_size,vg_free,lv_count", "pve");
  static final List<String> ZFS_LIST = List.of("zfs", "list", "-H", "-p",
      "-o", "name,type,volsize,refquota,origin,creation,used,available,referenced",
      "-t", "filesystem,volume,snapshot", "-r", "rpool/data");
  static final List<String> ZFS_LIST_WITH_USER_PROPERTY = List.of("zfs", "list", "-H", "-p",
      "-o", "name,type,volsize,refquota,origin,creation,used,available,referenced,pve-csi:pvc",
      "-t", "filesystem,volume,snapshot", "-r", "rpool/data");

  /** One command of a scenario. */
  enum Kind {
    /** Must exit 0; not recorded. */
    SETUP,
    /** Recorded; must exit 0. */
    RECORD,
    /** Recorded; must exit non-zero (an error case). */
    RECORD_FAILURE,
    /** Runs after the scenario whatever happened; failures are ignored. */
    CLEANUP
  }

  record Step(Kind kind, String name, List<String> argv) {}

  record Scenario(String tool, String name, List<Step> steps) {}

  static List<Scenario> all() {
    return List.of(lvmEmptyPool(), lvmVolumes(), lvmErrors(), lvmPoolFull(), lvmPlugin(),
        lvmPluginKeep(), zfsEmpty(), zfsVolumes(), zfsErrors(), zfsPluginListing(),
        zfsPluginErrors(), zfsPluginDeleted());
  }

  // ---- LVM -----------------------------------------------------------------------------------

  private static Scenario lvmEmptyPool() {
    return new Builder("lvm", "empty-pool")
        .record("lvm-version", "lvm", "version")
        .record("lvs-empty-pool", plus(LVS, "pve"))
        .record("vgs-empty-pool", VGS)
        .build();
  }

  private static Scenario lvmVolumes() {
    return new Builder("lvm", "volumes")
        .setup("lvcreate", "-y", "-V", "1G", "-T", "pve/data", "-n", "vm-100-disk-0",
            "--addtag", "csi.k8s.io/pvc=ns1.claim-a", "--addtag", "pve-csi/fs=ext4")
        .setup("mkfs.ext4", "-q", "/dev/pve/vm-100-disk-0")
        .setup("lvcreate", "-y", "-s", "pve/vm-100-disk-0", "-n", "snap_vm-100-disk-0_before",
            "--addtag", "pve-csi/snapshot-of=vm-100-disk-0")
        .setup("lvcreate", "-y", "-s", "pve/snap_vm-100-disk-0_before", "-n", "vm-101-disk-0", "-k", "n")
        .setup("lvcreate", "-y", "-V", "512M", "-T", "pve/data", "-n", "vm-102-disk-0")
        .setup("lvchange", "-an", "pve/vm-102-disk-0")
        .record("lvs-volumes-snapshot-clone-inactive", plus(LVS, "pve"))
        .record("lvs-one-volume", plus(LVS, "pve/vm-100-disk-0"))
        .record("vgs-with-volumes", VGS)
        .recordFailure("lvcreate-tag-with-comma", "lvcreate", "-y", "-V", "1G", "-T", "pve/data",
            "-n", "vm-103-disk-0", "--addtag", "a,b")
        .cleanup("lvremove", "-y", "pve/vm-101-disk-0", "pve/snap_vm-100-disk-0_before",
            "pve/vm-100-disk-0", "pve/vm-102-disk-0")
        .cleanup("lvremove", "-y", "pve/vm-103-disk-0")
        .build();
  }

  private static Scenario lvmErrors() {
    return new Builder("lvm", "errors")
        .setup("lvcreate", "-y", "-V", "1G", "-T", "pve/data", "-n", "vm-200-disk-0")
        .recordFailure("lvcreate-existing", "lvcreate", "-y", "-V", "1G", "-T", "pve/data", "-n", "vm-200-disk-0")
        .recordFailure("lvremove-missing", "lvremove", "-y", "pve/vm-999-disk-0")
        .recordFailure("lvs-missing", plus(LVS, "pve/vm-999-disk-0"))
        .recordFailure("lvcreate-missing-vg", "lvcreate", "-y", "-V", "1G", "-T", "nosuchvg/data", "-n", "vm-201-disk-0")
        .recordFailure("lvcreate-missing-pool", "lvcreate", "-y", "-V", "1G", "-T", "pve/nosuchpool", "-n", "vm-201-disk-0")
        .recordFailure("lvcreate-thick-larger-than-vg", "lvcreate", "-y", "-L", "100G", "-n", "big", "pve")
        .recordFailure("lvextend-smaller", "lvextend", "-y", "-L", "512M", "pve/vm-200-disk-0")
        .recordFailure("lvextend-equal", "lvextend", "-y", "-L", "1G", "pve/vm-200-disk-0")
        .record("lvextend-larger", "lvextend", "-y", "-L", "2G", "pve/vm-200-disk-0")
        .setup("mkfs.ext4", "-q", "/dev/pve/vm-200-disk-0")
        .setup("mkdir", "-p", "/mnt/fixture-open")
        .setup("mount", "/dev/pve/vm-200-disk-0", "/mnt/fixture-open")
        .recordFailure("lvremove-open", "lvremove", "-y", "pve/vm-200-disk-0")
        .cleanup("umount", "/mnt/fixture-open")
        .cleanup("lvremove", "-y", "pve/vm-200-disk-0")
        .build();
  }

  /** A small pool that errors when full (instead of queueing I/O for 60 s), then filled. */
  private static Scenario lvmPoolFull() {
    return new Builder("lvm", "pool-full")
        .setup("lvcreate", "-y", "--type", "thin-pool", "-L", "64M", "-n", "small", "pve")
        .setup("lvchange", "--errorwhenfull", "y", "pve/small")
        .setup("lvcreate", "-y", "-V", "256M", "-T", "pve/small", "-n", "vm-300-disk-0")
        .recordFailure("dd-into-full-pool", "dd", "if=/dev/zero", "of=/dev/pve/vm-300-disk-0",
            "bs=1M", "count=128", "oflag=direct", "status=none")
        .record("lvs-pool-full", plus(LVS, "pve"))
        .recordFailure("lvcreate-in-full-pool", "lvcreate", "-y", "-V", "64M", "-T", "pve/small", "-n", "vm-301-disk-0")
        .cleanup("lvremove", "-y", "pve/vm-301-disk-0")
        .cleanup("lvremove", "-y", "pve/vm-300-disk-0")
        .cleanup("lvremove", "-y", "pve/small")
        .build();
  }

  /**
   * The LVM-thin plugin's own command lines ({@link LvmCommands}, tags from {@link LvTags}), so
   * that its service tests replay real answers to exactly the argv it sends: a pool with a
   * tagged volume (tags with '=', '/', '.', several per LV, a b64 value), a snapshot, a clone of
   * it, a base and a clone of the base, an inactive volume; and the failures it classifies.
   */
  private static Scenario lvmPlugin() {
    List<String> claim = LvTags.encode(new VolumeMetadata("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a",
        Optional.of("team-a"), Optional.of("data.db-0"), Optional.of("pvc-0b7e2c1a-5d4f-4e8a-9c3b-1f2e3d4c5b6a")));
    List<String> oddName = LvTags.encode(new VolumeMetadata("import, from \"vm 7\"",
        Optional.of("team-a"), Optional.of("claim/with=chars"), Optional.empty()));
    List<String> snapTags = LvTags.encode(VolumeMetadata.of("snapshot-7d1c9f0e-2b3a-4c5d-8e6f-0a1b2c3d4e5f"));
    List<String> cloneTags = LvTags.encode(VolumeMetadata.of("pvc-restored-1"));
    return new Builder("lvm", "plugin")
        .record("plugin-lvs-empty-pool", argv(LvmCommands.lvs("pve")))
        .recordFailure("plugin-lvs-missing-vg", argv(LvmCommands.lvs("nosuchvg")))
        .record("plugin-lvcreate-thin", argv(LvmCommands.createThin("pve", "data", "vm-400-disk-0", 1048576, claim)))
        .record("plugin-lvchange-setautoactivation", argv(LvmCommands.disableAutoactivation("pve", "vm-400-disk-0")))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-400-disk-1", 4097, oddName)))
        .record("plugin-lvcreate-snapshot", argv(LvmCommands.createSnapshot("pve", "vm-400-disk-0",
            "snap_vm-400-disk-0_before-upgrade", snapTags)))
        .record("plugin-lvcreate-clone-of-snapshot", argv(LvmCommands.createClone("pve",
            "snap_vm-400-disk-0_before-upgrade", "vm-401-disk-0", cloneTags)))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-402-disk-0", 65536, List.of())))
        .record("plugin-lvrename", argv(LvmCommands.rename("pve", "vm-402-disk-0", "base-402-disk-0")))
        .record("plugin-lvchange-readonly-skip", argv(LvmCommands.makeReadOnlySkipped("pve", "base-402-disk-0")))
        .record("plugin-lvchange-deactivate", argv(LvmCommands.deactivate("pve", "base-402-disk-0")))
        .record("plugin-lvcreate-clone-of-base", argv(LvmCommands.createClone("pve", "base-402-disk-0",
            "vm-403-disk-0", List.of())))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-404-disk-0", 65536, List.of())))
        .setup(argv(LvmCommands.deactivate("pve", "vm-404-disk-0")))
        .record("plugin-lvs-volumes", argv(LvmCommands.lvs("pve")))
        .record("plugin-lvchange-activate-snapshot", argv(LvmCommands.activate("pve", "snap_vm-400-disk-0_before-upgrade")))
        .recordFailure("plugin-lvcreate-existing", argv(LvmCommands.createThin("pve", "data", "vm-400-disk-0", 1048576, List.of())))
        .recordFailure("plugin-lvcreate-missing-pool", argv(LvmCommands.createThin("pve", "nosuchpool", "vm-405-disk-0", 1024, List.of())))
        .recordFailure("plugin-lvcreate-snapshot-missing-origin", argv(LvmCommands.createSnapshot("pve", "vm-499-disk-0",
            "snap_vm-499-disk-0_s1", List.of())))
        .recordFailure("plugin-lvrename-existing", argv(LvmCommands.rename("pve", "vm-404-disk-0", "vm-400-disk-0")))
        .recordFailure("plugin-lvchange-activate-missing", argv(LvmCommands.activate("pve", "vm-499-disk-0")))
        .recordFailure("plugin-lvremove-missing", argv(LvmCommands.remove("pve", "vm-499-disk-0")))
        .recordFailure("plugin-lvextend-equal", argv(LvmCommands.extend("pve", "vm-400-disk-0", 1048576)))
        .recordFailure("plugin-lvextend-smaller", argv(LvmCommands.extend("pve", "vm-400-disk-0", 524288)))
        .record("plugin-lvextend-larger", argv(LvmCommands.extend("pve", "vm-400-disk-0", 2097152)))
        .setup("mkfs.ext4", "-q", "/dev/pve/vm-401-disk-0")
        .setup("mkdir", "-p", "/mnt/fixture-plugin")
        .setup("mount", "/dev/pve/vm-401-disk-0", "/mnt/fixture-plugin")
        .recordFailure("plugin-lvremove-open", argv(LvmCommands.remove("pve", "vm-401-disk-0")))
        .setup("umount", "/mnt/fixture-plugin")
        .record("plugin-lvremove", argv(LvmCommands.remove("pve", "snap_vm-400-disk-0_before-upgrade")))
        .cleanup("umount", "/mnt/fixture-plugin")
        .cleanup("lvremove", "-f", "pve/snap_vm-400-disk-0_before-upgrade")
        .cleanup("lvremove", "-f", "pve/vm-401-disk-0", "pve/vm-403-disk-0", "pve/base-402-disk-0",
            "pve/vm-400-disk-0", "pve/vm-400-disk-1", "pve/vm-404-disk-0")
        .build();
  }

  /**
   * What the LVM-thin plugin meets since issue 13: the autoactivation setting read back before
   * and after {@code --setautoactivation n}; a pool holding a driver volume with a CSI snapshot
   * and a snapshot without one, a driver volume with the snapshot a PVC clone left behind, and
   * a guest disk with a snapshot that merely has a clone snapshot's name; the same pool once the
   * driver volume is deleted (its CSI snapshot stays, its origin column goes empty) and once a
   * new volume of the deleted one's name exists; and the whole pool inactive, then activated.
   */
  private static Scenario lvmPluginKeep() {
    List<String> keepTags = LvTags.encode(new VolumeMetadata("pvc-keep", Optional.of("team-a"),
        Optional.of("data-keep"), Optional.of("pvc-keep")));
    List<String> snapTags = LvTags.encode(VolumeMetadata.of("snapshot-keep"));
    List<String> srcTags = LvTags.encode(VolumeMetadata.of("pvc-src"));
    String staleClone = "snap_vm-412-src_" + VolumeNames.cloneSnapshotFor("vm-412-pvc-clone");
    return new Builder("lvm", "plugin-keep")
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-410-pvc-keep", 65536, keepTags)))
        .record("plugin-lvs-autoactivation-on", argv(LvmCommands.autoactivation("pve", "vm-410-pvc-keep")))
        .setup(argv(LvmCommands.disableAutoactivation("pve", "vm-410-pvc-keep")))
        .record("plugin-lvs-autoactivation-off", argv(LvmCommands.autoactivation("pve", "vm-410-pvc-keep")))
        .recordFailure("plugin-lvs-autoactivation-missing", argv(LvmCommands.autoactivation("pve", "vm-499-disk-0")))
        .setup(argv(LvmCommands.createSnapshot("pve", "vm-410-pvc-keep", "snap_vm-410-pvc-keep_s1", snapTags)))
        .setup(argv(LvmCommands.createSnapshot("pve", "vm-410-pvc-keep", "snap_vm-410-pvc-keep_before", List.of())))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-412-src", 65536, srcTags)))
        .setup(argv(LvmCommands.createSnapshot("pve", "vm-412-src", staleClone, List.of())))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-100-disk-9", 65536, List.of())))
        .setup(argv(LvmCommands.createSnapshot("pve", "vm-100-disk-9", "snap_vm-100-disk-9_clone-of-backup", List.of())))
        .record("plugin-lvs-keep-before", argv(LvmCommands.lvs("pve")))
        .setup(argv(LvmCommands.remove("pve", "snap_vm-410-pvc-keep_before")))
        .setup(argv(LvmCommands.remove("pve", "vm-410-pvc-keep")))
        .record("plugin-lvs-keep-deleted", argv(LvmCommands.lvs("pve")))
        .setup(argv(LvmCommands.createThin("pve", "data", "vm-410-pvc-keep", 65536, keepTags)))
        .setup(argv(LvmCommands.disableAutoactivation("pve", "vm-410-pvc-keep")))
        .record("plugin-lvs-keep-again", argv(LvmCommands.lvs("pve")))
        .setup("vgchange", "-an", "pve")
        .record("plugin-lvs-inactive-pool", argv(LvmCommands.lvs("pve")))
        .record("plugin-lvchange-activate-pool", argv(LvmCommands.activate("pve", "data")))
        .record("plugin-lvs-activated-pool", argv(LvmCommands.lvs("pve")))
        .cleanup("lvchange", "-ay", "-K", "pve/data")
        .cleanup("lvremove", "-f", "pve/snap_vm-410-pvc-keep_s1", "pve/snap_vm-410-pvc-keep_before",
            "pve/vm-410-pvc-keep", "pve/" + staleClone, "pve/vm-412-src",
            "pve/snap_vm-100-disk-9_clone-of-backup", "pve/vm-100-disk-9")
        .build();
  }

  private static String[] argv(Command command) {
    return command.argv().toArray(String[]::new);
  }

  // ---- ZFS -----------------------------------------------------------------------------------

  private static Scenario zfsEmpty() {
    return new Builder("zfs", "empty")
        .record("zfs-version", "zfs", "version")
        .record("zfs-list-empty", ZFS_LIST)
        .record("zfs-get-available-used", "zfs", "get", "-H", "-p", "-o", "value", "available,used", "rpool/data")
        .build();
  }

  private static Scenario zfsVolumes() {
    return new Builder("zfs", "volumes")
        .setup("zfs", "create", "-V", "1G", "rpool/data/vm-100-disk-0")
        .setup("zfs", "create", "-s", "-V", "2G", "-o", "volblocksize=16k", "-o", "pve-csi:pvc=ns1/claim-b",
            "rpool/data/vm-101-disk-0")
        .setup("zfs", "create", "-o", "refquota=1G", "-o", "pve-csi:pvc=ns1/claim-c", "rpool/data/subvol-102-disk-0")
        .setup("dd", "if=/dev/urandom", "of=/rpool/data/subvol-102-disk-0/data", "bs=64k", "count=16", "status=none")
        .setup("zfs", "snapshot", "rpool/data/vm-100-disk-0@snap1")
        .setup("zfs", "snapshot", "rpool/data/subvol-102-disk-0@snap1")
        .setup("zfs", "clone", "rpool/data/vm-100-disk-0@snap1", "rpool/data/vm-103-disk-0")
        .record("zfs-list-volumes-snapshots-clone", ZFS_LIST)
        .record("zfs-list-with-user-property", ZFS_LIST_WITH_USER_PROPERTY)
        .record("zfs-get-available-used-with-volumes", "zfs", "get", "-H", "-p", "-o", "value", "available,used", "rpool/data")
        .recordFailure("zfs-destroy-snapshot-with-clone", "zfs", "destroy", "rpool/data/vm-100-disk-0@snap1")
        .recordFailure("zfs-destroy-volume-with-snapshot", "zfs", "destroy", "rpool/data/vm-100-disk-0")
        .cleanup("zfs", "destroy", "rpool/data/vm-103-disk-0")
        .cleanup("zfs", "destroy", "-r", "rpool/data/vm-100-disk-0")
        .cleanup("zfs", "destroy", "-r", "rpool/data/vm-101-disk-0")
        .cleanup("zfs", "destroy", "-r", "rpool/data/subvol-102-disk-0")
        .build();
  }

  private static Scenario zfsErrors() {
    return new Builder("zfs", "errors")
        .setup("zfs", "create", "-V", "64M", "rpool/data/vm-200-disk-0")
        .setup("zfs", "create", "-o", "refquota=16M", "rpool/data/subvol-201-disk-0")
        .setup("dd", "if=/dev/urandom", "of=/rpool/data/subvol-201-disk-0/data", "bs=1M", "count=8", "status=none")
        .setup("sync")
        .recordFailure("zfs-create-existing", "zfs", "create", "-V", "64M", "rpool/data/vm-200-disk-0")
        .recordFailure("zfs-destroy-missing", "zfs", "destroy", "rpool/data/vm-999-disk-0")
        .recordFailure("zfs-list-missing", plus(ZFS_LIST.subList(0, ZFS_LIST.size() - 2), "rpool/data/vm-999-disk-0"))
        .recordFailure("zfs-create-out-of-space", "zfs", "create", "-V", "100G", "rpool/data/vm-202-disk-0")
        .recordFailure("zfs-set-volsize-out-of-space", "zfs", "set", "volsize=100G", "rpool/data/vm-200-disk-0")
        .recordFailure("zfs-set-refquota-below-used", "zfs", "set", "refquota=1M", "rpool/data/subvol-201-disk-0")
        .recordFailure("zfs-create-missing-pool", "zfs", "create", "-V", "64M", "nosuchpool/data/vm-203-disk-0")
        .recordFailure("zfs-create-missing-parent", "zfs", "create", "-V", "64M", "rpool/nosuch/vm-204-disk-0")
        .setup("udevadm", "settle")
        .setup("mkfs.ext4", "-q", "/dev/zvol/rpool/data/vm-200-disk-0")
        .setup("mkdir", "-p", "/mnt/fixture-zvol")
        .setup("mount", "/dev/zvol/rpool/data/vm-200-disk-0", "/mnt/fixture-zvol")
        .recordFailure("zfs-destroy-busy", "zfs", "destroy", "rpool/data/vm-200-disk-0")
        .cleanup("umount", "/mnt/fixture-zvol")
        .cleanup("zfs", "destroy", "-r", "rpool/data/vm-200-disk-0")
        .cleanup("zfs", "destroy", "-r", "rpool/data/subvol-201-disk-0")
        .build();
  }

  /**
   * The exact columns of io.csi.pvestorage.storage.zfspool.ZfsListParser (ZfsListParserTest
   * checks that the recorded .cmd files use them).
   */
  static final String ZFS_PLUGIN_COLUMNS = "name,type,volsize,refquota,origin,creation,used,"
      + "usedbydataset,available,referenced,volblocksize,guid,createtxg,clones,"
      + "pve-storage:refquota,pve-storage.csi.io:csi-name,pve-storage.csi.io:pvc-namespace,"
      + "pve-storage.csi.io:pvc-name,pve-storage.csi.io:pv-name,"
      + "pve-storage.csi.io:snapshot-csi-name,pve-storage.csi.io:deleted-volname";

  /**
   * What the ZFS plugin lists: zvols and datasets with our user properties (one value with a
   * tab and non-ASCII, encoded), snapshots with and without clones, a base with a linked
   * clone, a tombstone snapshot, and a nested dataset that the parent-path filter must drop.
   */
  private static Scenario zfsPluginListing() {
    return new Builder("zfs", "plugin-listing")
        .setup("zfs", "create", "-s", "-b", "16384", "-o", "pve-storage.csi.io:csi-name=pvc-1",
            "-o", "pve-storage.csi.io:pvc-namespace=ns1", "-o", "pve-storage.csi.io:pvc-name=claim%09%C3%A4",
            "-o", "pve-storage.csi.io:pv-name=pvc-1", "-V", "65536k", "rpool/data/vm-0-pvc-1")
        .setup("zfs", "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota=32768k",
            "-o", "pve-storage.csi.io:csi-name=pvc-2", "rpool/data/subvol-0-pvc-2")
        .setup("zfs", "create", "rpool/data/subvol-0-pvc-2/nested")
        .setup("zfs", "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota=none",
            "rpool/data/subvol-0-disk-0")
        .setup("zfs", "snapshot", "-o", "pve-storage.csi.io:snapshot-csi-name=snapshot-a",
            "rpool/data/vm-0-pvc-1@snap-a")
        .setup("zfs", "snapshot", "rpool/data/vm-0-pvc-1@snap-b")
        .setup("zfs", "snapshot", "-o", "pve-storage:refquota=33554432",
            "-o", "pve-storage.csi.io:snapshot-csi-name=snapshot-c", "rpool/data/subvol-0-pvc-2@snap-c")
        .setup("zfs", "clone", "-o", "pve-storage.csi.io:csi-name=pvc-3", "rpool/data/vm-0-pvc-1@snap-a",
            "rpool/data/vm-0-pvc-3")
        .setup("zfs", "clone", "-o", "refquota=33554432", "rpool/data/subvol-0-pvc-2@snap-c",
            "rpool/data/subvol-0-pvc-4")
        .setup("zfs", "create", "-V", "16M", "rpool/data/vm-1-disk-0")
        .setup("zfs", "rename", "rpool/data/vm-1-disk-0", "rpool/data/base-1-disk-0")
        .setup("zfs", "snapshot", "rpool/data/base-1-disk-0@__base__")
        .setup("zfs", "clone", "rpool/data/base-1-disk-0@__base__", "rpool/data/vm-2-disk-0")
        .setup("zfs", "snapshot", "rpool/data/vm-2-disk-0@gone")
        .setup("zfs", "clone", "rpool/data/vm-2-disk-0@gone", "rpool/data/vm-3-disk-0")
        .setup("zfs", "rename", "rpool/data/vm-2-disk-0@gone", "rpool/data/vm-2-disk-0@__deleted_42")
        .record("zfs-plugin-list-snapshots", "zfs", "list", "-H", "-p", "-o", ZFS_PLUGIN_COLUMNS,
            "-t", "filesystem,volume,snapshot", "-r", "-d", "2", "rpool/data")
        .record("zfs-plugin-list-volumes", "zfs", "list", "-H", "-p", "-o", ZFS_PLUGIN_COLUMNS,
            "-t", "filesystem,volume", "-r", "-d", "1", "rpool/data")
        .record("zfs-plugin-list-one", "zfs", "list", "-H", "-p", "-o", ZFS_PLUGIN_COLUMNS,
            "-t", "filesystem,volume", "rpool/data/subvol-0-pvc-2")
        .record("zfs-get-mounted", "zfs", "get", "-H", "-p", "-o", "value", "mounted",
            "rpool/data/subvol-0-pvc-2")
        .recordFailure("zfs-destroy-volume-with-cloned-snapshot", "zfs", "destroy", "-r",
            "rpool/data/vm-0-pvc-1")
        .recordFailure("zfs-destroy-missing-snapshot", "zfs", "destroy", "rpool/data/vm-0-pvc-1@nosuch")
        .record("zfs-promote", "zfs", "promote", "rpool/data/vm-3-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-3-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-2-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/base-1-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-0-pvc-1")
        .cleanup("zfs", "destroy", "-R", "rpool/data/subvol-0-pvc-2")
        .cleanup("zfs", "destroy", "-R", "rpool/data/subvol-0-disk-0")
        .build();
  }

  /**
   * Deleted volumes as the ZFS plugin keeps them for their CSI snapshots and clones: the
   * commands of its hide (csi-deleted-1 and -2 stand for csi-deleted-<guid>) on a zvol and a
   * dataset, then a new volume of the deleted one's name, a restore of its CSI snapshot, and a
   * dataset named like a hidden one that lacks the mark.
   */
  private static Scenario zfsPluginDeleted() {
    return new Builder("zfs", "plugin-deleted")
        .setup("zfs", "create", "-s", "-b", "16384", "-o", "pve-storage.csi.io:csi-name=pvc-9",
            "-V", "16384k", "rpool/data/vm-0-pvc-9")
        .setup("zfs", "snapshot", "-o", "pve-storage.csi.io:snapshot-csi-name=snapshot-9",
            "rpool/data/vm-0-pvc-9@snap-9")
        .setup("zfs", "snapshot", "rpool/data/vm-0-pvc-9@plain")
        .setup("zfs", "snapshot", "rpool/data/vm-0-pvc-9@cloned")
        .setup("zfs", "clone", "rpool/data/vm-0-pvc-9@cloned", "rpool/data/vm-1-disk-0")
        .setup("zfs", "destroy", "rpool/data/vm-0-pvc-9@plain")
        .setup("zfs", "rename", "rpool/data/vm-0-pvc-9@cloned", "rpool/data/vm-0-pvc-9@__deleted_7")
        .setup("zfs", "set", "pve-storage.csi.io:deleted-volname=vm-0-pvc-9", "refreservation=none",
            "rpool/data/vm-0-pvc-9")
        .setup("zfs", "rename", "rpool/data/vm-0-pvc-9", "rpool/data/csi-deleted-1")
        .setup("zfs", "create", "-s", "-b", "16384", "-o", "pve-storage.csi.io:csi-name=pvc-9",
            "-V", "16384k", "rpool/data/vm-0-pvc-9")
        .setup("zfs", "clone", "-o", "pve-storage.csi.io:csi-name=pvc-10",
            "rpool/data/csi-deleted-1@snap-9", "rpool/data/vm-0-pvc-10")
        .setup("zfs", "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota=16384k",
            "-o", "pve-storage.csi.io:csi-name=pvc-11", "rpool/data/subvol-0-pvc-11")
        .setup("zfs", "snapshot", "-o", "pve-storage:refquota=16777216",
            "-o", "pve-storage.csi.io:snapshot-csi-name=snapshot-11", "rpool/data/subvol-0-pvc-11@snap-11")
        .setup("zfs", "set", "pve-storage.csi.io:deleted-volname=subvol-0-pvc-11", "canmount=off",
            "rpool/data/subvol-0-pvc-11")
        .setup("zfs", "rename", "rpool/data/subvol-0-pvc-11", "rpool/data/csi-deleted-2")
        .setup("zfs", "create", "rpool/data/csi-deleted-3")
        .record("zfs-plugin-list-deleted", "zfs", "list", "-H", "-p", "-o", ZFS_PLUGIN_COLUMNS,
            "-t", "filesystem,volume,snapshot", "-r", "-d", "2", "rpool/data")
        .record("zfs-get-deleted-released", "zfs", "get", "-H", "-p", "-o", "name,property,value",
            "mounted,canmount,refreservation", "rpool/data/csi-deleted-1", "rpool/data/csi-deleted-2")
        .cleanup("zfs", "destroy", "-R", "rpool/data/csi-deleted-1")
        .cleanup("zfs", "destroy", "-R", "rpool/data/csi-deleted-2")
        .cleanup("zfs", "destroy", "-R", "rpool/data/csi-deleted-3")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-0-pvc-9")
        .build();
  }

  /** Failures the ZFS plugin classifies that the generic error scenario does not produce. */
  private static Scenario zfsPluginErrors() {
    return new Builder("zfs", "plugin-errors")
        .setup("zfs", "create", "-o", "refquota=16M", "rpool/data/subvol-400-disk-0")
        .setup("zfs", "snapshot", "rpool/data/subvol-400-disk-0@s")
        .recordFailure("zfs-set-refquota-zero", "zfs", "set", "refquota=0", "rpool/data/subvol-400-disk-0")
        .recordFailure("zfs-clone-refquota-zero", "zfs", "clone", "-o", "refquota=0",
            "rpool/data/subvol-400-disk-0@s", "rpool/data/subvol-401-disk-0")
        // 2.1.11 accepts a volsize that is no multiple of the volblocksize (older zfs did
        // not: zfs#8541, PVE cdef3ab); recorded to show it, the plugin rounds to 1 MiB anyway.
        .record("zfs-create-unaligned", "zfs", "create", "-b", "16384", "-V", "1000k",
            "rpool/data/vm-402-disk-0")
        .record("zfs-get-volsize-unaligned", "zfs", "get", "-H", "-p", "-o", "value", "volsize",
            "rpool/data/vm-402-disk-0")
        .recordFailure("zfs-create-size-zero", "zfs", "create", "-V", "0", "rpool/data/vm-404-disk-0")
        .recordFailure("zfs-create-invalid-property", "zfs", "create", "-o", "nosuchprop=1",
            "rpool/data/subvol-403-disk-0")
        .recordFailure("zfs-set-bad-number", "zfs", "set", "refquota=abc", "rpool/data/subvol-400-disk-0")
        .recordFailure("zfs-list-no-such-pool", "zfs", "list", "-H", "-p", "-o", ZFS_PLUGIN_COLUMNS,
            "-t", "filesystem,volume", "-r", "-d", "1", "nosuchpool/data")
        .recordFailure("zfs-snapshot-existing", "zfs", "snapshot", "rpool/data/subvol-400-disk-0@s")
        .cleanup("zfs", "destroy", "-R", "rpool/data/subvol-400-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/subvol-401-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/subvol-403-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-402-disk-0")
        .cleanup("zfs", "destroy", "-R", "rpool/data/vm-404-disk-0")
        .build();
  }

  // ---------------------------------------------------------------------------------------

  private static List<String> plus(List<String> argv, String... more) {
    List<String> all = new ArrayList<>(argv);
    all.addAll(List.of(more));
    return all;
  }

  private static final class Builder {
    private final String tool;
    private final String name;
    private final List<Step> steps = new ArrayList<>();

    Builder(String tool, String name) {
      this.tool = tool;
      this.name = name;
    }

    Builder setup(String... argv) {
      steps.add(new Step(Kind.SETUP, null, List.of(argv)));
      return this;
    }

    Builder record(String fixture, String... argv) {
      return record(fixture, List.of(argv));
    }

    Builder record(String fixture, List<String> argv) {
      steps.add(new Step(Kind.RECORD, fixture, argv));
      return this;
    }

    Builder recordFailure(String fixture, String... argv) {
      return recordFailure(fixture, List.of(argv));
    }

    Builder recordFailure(String fixture, List<String> argv) {
      steps.add(new Step(Kind.RECORD_FAILURE, fixture, argv));
      return this;
    }

    Builder cleanup(String... argv) {
      steps.add(new Step(Kind.CLEANUP, null, List.of(argv)));
      return this;
    }

    Scenario build() {
      return new Scenario(tool, name, List.copyOf(steps));
    }
  }
}
