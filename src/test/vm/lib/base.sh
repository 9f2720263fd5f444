# shellcheck shell=bash
# The expensive half of the guest image, sourced by build-image: host packages, the rootfs made by
# mmdebstrap (.ci/debian-rootfs.sh), the Debian kernel and the zfs modules built with DKMS. Its
# hash is part of the base key, so any change here rebuilds the base; changes elsewhere (agent,
# init, image assembly) reuse it.

# Several worktrees or builds may share one machine: wait for another apt/dpkg run rather than fail
# on its lock, and let one DKMS build of the zfs modules for a kernel run at a time.
APT_WAIT=(-o DPkg::Lock::Timeout=900)
DKMS_LOCK=/var/lock/pve-csi-vm-harness-dkms.lock

# Guest packages. python3 runs the agent (zfsutils-linux pulls it in anyway); runc and umoci run
# the driver's OCI image as a container (io.csi.pvestorage.harness.PodContainer). cryptsetup-bin
# formats and opens the LUKS2 volumes of issue 18 (dm-crypt itself is in the kernel's drivers/md,
# which base_modules copies).
GUEST_PACKAGES=lvm2,thin-provisioning-tools,zfsutils-linux,e2fsprogs,xfsprogs,util-linux,mount,udev,kmod,procps,python3,iproute2,runc,umoci,cryptsetup-bin

host_packages() {
  local pkgs=(qemu-system-x86 qemu-utils mmdebstrap busybox-static dkms zstd cpio kmod e2fsprogs
              util-linux python3)
  local missing=() p
  for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing host packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install "${APT_WAIT[@]}" -y -q --no-install-recommends "${missing[@]}" \
      >"$WORK/host-packages.log" 2>&1 \
      || { tail -n 30 "$WORK/host-packages.log" >&2; die "cannot install host packages: ${missing[*]}"; }
  fi
}

base_rootfs() {
  rm -rf "$WORK/rootfs"
  # The suite alone, as the host's zfs-dkms candidate that the modules are built from.
  pve_csi_mmdebstrap "$WORK/mmdebstrap.log" --variant=minbase --include="$GUEST_PACKAGES" \
    "$SUITE" "$WORK/rootfs" "deb $MIRROR $SUITE main contrib" \
    || { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $WORK/mmdebstrap.log)"; }
  local guest_zfs
  guest_zfs=$(chroot "$WORK/rootfs" dpkg-query -W -f='${Version}' zfsutils-linux)
  [[ $guest_zfs == "$ZFS_VERSION" ]] \
    || die "guest zfsutils-linux $guest_zfs differs from the zfs-dkms $ZFS_VERSION the modules are built from"
  # Trim what a test guest never reads.
  rm -rf "$WORK/rootfs"/var/cache/apt/archives/*.deb "$WORK/rootfs"/var/lib/apt/lists/* \
    "$WORK/rootfs"/usr/share/{doc,man,info,locale}
}

base_kernel() {
  rm -rf "$WORK/kernel" && mkdir -p "$WORK/kernel"
  (cd "$WORK" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KPKG_VERSION" >/dev/null) \
    || die "cannot download $KPKG $KPKG_VERSION"
  dpkg-deb -x "$WORK/${KPKG}_"*.deb "$WORK/kernel"
  rm -f "$WORK/${KPKG}_"*.deb
  [[ -f $WORK/kernel/boot/vmlinuz-$KV ]] || die "$KPKG has no /boot/vmlinuz-$KV"
  depmod -b "$WORK/kernel" "$KV"
}

base_zfs_modules() {
  exec 8>"$DKMS_LOCK"
  flock 8
  # Headers first, so that zfs-dkms' postinst (or dkms install below) builds for the guest kernel.
  DEBIAN_FRONTEND=noninteractive apt-get install "${APT_WAIT[@]}" -y -q --no-install-recommends \
    "linux-headers-$KV" "zfs-dkms=$ZFS_VERSION" >"$WORK/zfs-dkms.log" 2>&1 \
    || { tail -n 30 "$WORK/zfs-dkms.log" >&2; die "cannot install linux-headers-$KV / zfs-dkms=$ZFS_VERSION"; }
  dkms install "zfs/$ZFS_UPSTREAM" -k "$KV" >>"$WORK/zfs-dkms.log" 2>&1 \
    || { tail -n 30 "$WORK/zfs-dkms.log" >&2; die "dkms install zfs/$ZFS_UPSTREAM -k $KV failed (log: $WORK/zfs-dkms.log)"; }
  local dkms_dir=/lib/modules/$KV/updates/dkms
  ls "$dkms_dir"/zfs.ko* >/dev/null 2>&1 || die "dkms built no zfs.ko into $dkms_dir"
  rm -rf "$WORK/zfs-ko" && mkdir -p "$WORK/zfs-ko" && cp "$dkms_dir"/*.ko* "$WORK/zfs-ko/"
  flock -u 8
}

base_modules() {
  local src=$WORK/kernel/lib/modules/$KV dst=$WORK/rootfs/lib/modules/$KV
  rm -rf "$dst" && mkdir -p "$dst/kernel/drivers" "$dst/kernel/net" "$dst/updates/dkms"
  cp "$src"/modules.order "$src"/modules.builtin "$src"/modules.builtin.modinfo "$dst/"
  # Only what a storage guest loads: filesystems, dm, virtio, 9p, networking basics.
  local d
  for d in fs lib crypto arch block; do cp -a "$src/kernel/$d" "$dst/kernel/"; done
  for d in md block virtio char; do cp -a "$src/kernel/drivers/$d" "$dst/kernel/drivers/"; done
  mkdir -p "$dst/kernel/drivers/net" && cp "$src"/kernel/drivers/net/*.ko* "$dst/kernel/drivers/net/"
  for d in 9p core ipv4 ipv6 packet unix; do
    if [[ -d $src/kernel/net/$d ]]; then cp -a "$src/kernel/net/$d" "$dst/kernel/net/"; fi
  done
  cp "$WORK"/zfs-ko/* "$dst/updates/dkms/"
  depmod -b "$WORK/rootfs" "$KV"
}
