package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The kill policy's allow-list against the argv the plugins and the node's mounter build (read
 * from LvmCommands, ZfsPoolPlugin and Mounter): only reads may be killed, everything else,
 * unknown programs included, never is.
 */
class ReadOnlyCommandsTest {

  @ParameterizedTest(name = "{1}: {0}")
  @CsvSource(delimiter = '|', value = {
      // LVM reports
      "lvs --reportformat json --units b --nosuffix -o lv_name pve | true",
      "/sbin/vgs --reportformat json pve                           | true",
      "pvs                                                         | true",
      "lvm lvs pve                                                 | true",
      // ZFS listings
      "zfs list -H -p -o name,volsize -t all -r rpool/data        | true",
      "zfs get -H -p -o value mounted rpool/data/subvol-0-a       | true",
      "zpool list -H -o health rpool                              | true",
      "zpool status rpool                                         | true",
      // node reads
      "findmnt -J -l -o TARGET,SOURCE                              | true",
      "blkid -p -o export /dev/pve/vm-0-a                          | true",
      "stat -L -c %F /var/lib/kubelet/x                            | true",
      "stat -f -c %b /var/lib/kubelet/x                            | true",
      "test -b /dev/zvol/rpool/data/vm-0-a                         | true",
      "find /dev/zvol -type l -printf %l\\n                        | true",
      "find /sys/block -maxdepth 1 -name zd*                       | true",
      "blockdev --getsize64 /dev/pve/vm-0-a                        | true",
      "dumpe2fs -h /dev/pve/vm-0-a                                 | true",
      "xfs_info /var/lib/kubelet/x                                 | true",
      "udevadm settle --timeout=5                                  | true",
      "udevadm info /dev/zd0                                       | true",
      // LVM changes
      "lvcreate -aly -V 1024k --name vm-0-a --thinpool pve/data    | false",
      "lvcreate -n snap_vm-0-a_s -pr -s pve/vm-0-a                 | false",
      "lvchange --setautoactivation n pve/vm-0-a                   | false",
      "lvchange -ay -K pve/vm-0-a                                  | false",
      "lvchange -an pve/vm-0-a                                     | false",
      "lvremove -f pve/vm-0-a                                      | false",
      "lvrename pve vm-0-a vm-0-b                                  | false",
      "lvextend -L 2048k pve/vm-0-a                                | false",
      "lvm lvcreate -V 1g pve                                      | false",
      // ZFS changes
      "zfs create -V 1G rpool/data/vm-0-a                          | false",
      "zfs destroy -r rpool/data/vm-0-a                            | false",
      "zfs rename rpool/data/vm-0-a rpool/data/vm-0-b              | false",
      "zfs set refquota=1024k rpool/data/subvol-0-a                | false",
      "zfs snapshot rpool/data/vm-0-a@s                            | false",
      "zfs clone rpool/data/vm-0-a@s rpool/data/vm-0-b             | false",
      "zfs promote rpool/data/vm-0-b                               | false",
      "zfs mount rpool/data/subvol-0-a                             | false",
      "zfs -? list                                                 | false",
      "zpool scrub rpool                                           | false",
      // node changes
      "mkfs.ext4 -q -m 0 /dev/pve/vm-0-a                           | false",
      "mkfs.xfs -q -K /dev/pve/vm-0-a                              | false",
      "resize2fs /dev/pve/vm-0-a                                   | false",
      "xfs_growfs -d /var/lib/kubelet/x                            | false",
      "mount -t ext4 /dev/pve/vm-0-a /var/lib/kubelet/x            | false",
      "umount /var/lib/kubelet/x                                   | false",
      "udevadm trigger --action=change /dev/zd0                    | false",
      "blockdev --setro /dev/pve/vm-0-a                            | false",
      "blockdev --getsize64 --flushbufs /dev/pve/vm-0-a            | false",
      "find /tmp -name x -delete                                   | false",
      "find /tmp -exec rm {} ;                                     | false",
      "mkdir -p /var/lib/kubelet/x                                 | false",
      "rm /var/lib/kubelet/x                                       | false",
      "sleep 5                                                     | false",
      "some-new-tool --list                                        | false"})
  void onlyReadsMayBeKilled(String argv, boolean readOnly) {
    List<String> words = List.of(argv.strip().split(" +"));
    assertEquals(readOnly, ReadOnlyCommands.isReadOnly(words), argv);
    assertEquals(readOnly, Command.of(Duration.ofSeconds(1), words).readOnly(), argv);
  }
}
