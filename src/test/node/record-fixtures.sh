#!/usr/bin/env bash
# Records the outputs the node package parses, from the real tools of this machine, into
# src/test/resources/fixtures/node/<release>/: <name>.cmd (argv, one per line), .stdout, .stderr,
# .exit. Needs root (loop devices, mounts); everything it creates lives under a temporary
# directory and is torn down on exit. Run from the project directory:
#   sudo src/test/node/record-fixtures.sh bookworm
set -euo pipefail
release=${1:?usage: record-fixtures.sh <release name, e.g. bookworm>}
out="src/test/resources/fixtures/node/$release"
mkdir -p "$out"
work=$(mktemp -d /tmp/node-fixtures.XXXXXX)
loops=()

cleanup() {
  set +e
  findmnt -l -n -o TARGET | grep "^$work" | sort -r | while IFS= read -r m; do umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l"; done
  rm -rf "$work"
}
trap cleanup EXIT

# record <name> <argv...>: runs argv without a shell and keeps what it answered.
record() {
  local name=$1; shift
  printf '%s\n' "$@" > "$out/$name.cmd"
  set +e
  LC_ALL=C "$@" > "$out/$name.stdout" 2> "$out/$name.stderr" < /dev/null
  echo $? > "$out/$name.exit"
  set -e
}

loop() { # loop <variable> <file> <size>: not in a subshell, so that cleanup sees the device
  truncate -s "$3" "$2"
  local dev; dev=$(losetup -f --show "$2"); loops+=("$dev"); printf -v "$1" '%s' "$dev"
}

loop blank "$work/blank.img" 64M
loop ext4 "$work/ext4.img" 512M
loop xfs "$work/xfs.img" 512M
loop swap "$work/swap.img" 64M
mkdir -p "$work/staging-ext4" "$work/staging-xfs" "$work/publish-ext4" "$work/with space" "$work/busy"
touch "$work/block-target"
printf 'data' > "$work/file-with-data"
ln -s /etc "$work/link-out"

record blkid-blank blkid -p -o export "$blank"
record dd-first-block dd "if=$blank" of=/dev/null bs=4096 count=1 iflag=direct status=none
unbound=$(losetup -f)   # a loop device node with nothing behind it: blkid says "nothing found"
record blkid-unbound blkid -p -o export "$unbound"
record blockdev-size-unbound blockdev --getsize64 "$unbound"
record blkid-missing blkid -p -o export "$work/no-such-device"
record mkfs-ext4 mkfs.ext4 -q -m 0 -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$ext4"
record mkfs-xfs mkfs.xfs -q -K "$xfs"
record mkfs-xfs-over-existing mkfs.xfs -q -K "$xfs"
mkswap -q "$swap"
record blkid-ext4 blkid -p -o export "$ext4"
record blkid-xfs blkid -p -o export "$xfs"
record blkid-swap blkid -p -o export "$swap"
record dumpe2fs-h dumpe2fs -h "$ext4"

record mount-wrong-fstype mount -t xfs "$ext4" "$work/staging-ext4"
record mount-ext4 mount -t ext4 -o noatime "$ext4" "$work/staging-ext4"
record mount-xfs mount -t xfs "$xfs" "$work/staging-xfs"
record mount-bind mount --bind "$work/staging-ext4" "$work/publish-ext4"
record remount-ro mount -o remount,bind,ro "$work/publish-ext4"
record mount-bind-block mount --bind "$blank" "$work/block-target"
mount -t tmpfs -o size=1m tmpfs "$work/with space"
mount -t tmpfs -o size=1m tmpfs "$work/with space"   # stacked twice on one target
record findmnt-staged findmnt -J -l -o TARGET,SOURCE,FSTYPE,VFS-OPTIONS,FS-OPTIONS,MAJ:MIN,FSROOT

record stat-fs-ext4 stat -f -c '%S %b %f %a %c %d' "$work/staging-ext4"
record stat-fs-xfs stat -f -c '%S %b %f %a %c %d' "$work/staging-xfs"
record xfs-io-statfs xfs_io -r -c statfs "$work/staging-xfs"
record stat-type-dir stat -c '%F|%t|%T|%s' "$work/publish-ext4"
record stat-type-block-target stat -L -c '%F|%t|%T|%s' "$work/block-target"
record stat-type-device stat -L -c '%F|%t|%T|%s' "$blank"
record stat-type-missing stat -L -c '%F|%t|%T|%s' "$work/missing"
record stat-type-file stat -c '%F|%t|%T|%s' "$work/file-with-data"
record realpath realpath -z -m -- "$work" "$work/link-out/x" "$work/new/dir"
record blockdev-size blockdev --getsize64 "$ext4"

truncate -s 1G "$work/ext4.img"; losetup -c "$ext4"
truncate -s 1G "$work/xfs.img"; losetup -c "$xfs"
# Online growth needs CAP_SYS_RESOURCE; without it (a restricted container) this records the refusal.
record resize2fs-online resize2fs "$ext4"
record xfs-growfs xfs_growfs -d "$work/staging-xfs"
record xfs-io-statfs-grown xfs_io -r -c statfs "$work/staging-xfs"
record blockdev-size-grown blockdev --getsize64 "$ext4"
record stat-fs-ext4-grown stat -f -c '%S %b %f %a %c %d' "$work/staging-ext4"

mount -t tmpfs -o size=1m tmpfs "$work/busy"
(cd "$work/busy" && sleep 30) & holder=$!
sleep 0.5
record umount-busy umount "$work/busy"
kill "$holder"; wait "$holder" 2>/dev/null || true
record umount umount "$work/busy"
record umount-not-mounted umount "$work/busy"
record rmdir-not-empty rmdir "$work"
