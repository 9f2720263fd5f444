# shellcheck shell=bash
# Sourced by src/image/build and src/test/vm/build-image: pve_csi_mmdebstrap makes a Debian root
# file system with mmdebstrap, which resolves and downloads with apt (several files at once) and
# unpacks with one dpkg run, where debootstrap fetched and installed package by package: the two
# cold builds' bootstraps take a fraction of the time (numbers in docs/development.md).
#
# Both builds draw their .deb files from one download cache (PVE_CSI_DEB_CACHE, default
# .cache/debs of the project), so a run that builds both fetches the packages they share once.
# The cache holds only files: apt picks the versions from the repositories' indices as always and
# checks every cached file against them, fetching it again when it differs, so the cache never
# decides what is installed. Delete it whenever you like.

PVE_CSI_DEB_CACHE=${PVE_CSI_DEB_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/debs}

# pve_csi_rootfs_tool: what makes the root file systems, for the builds' cache keys (a change of
# this file or of the mmdebstrap version rebuilds both bases).
pve_csi_rootfs_tool() {
  sha256sum <"${BASH_SOURCE[0]}"
  mmdebstrap --version
}

# pve_csi_mmdebstrap <log> <mmdebstrap arguments...>: runs mmdebstrap as root with the download
# cache bound at the new system's /var/cache/apt/archives, all output to <log>. It runs in a
# private mount namespace, so no mount outlives it even when it fails; the cache is unbound in
# the last hook, before mmdebstrap empties the system's apt cache. One build at a time uses the
# cache (apt locks it). dpkg skips fsync (force-unsafe-io): an interrupted build is thrown away
# anyway, and the option is removed from the finished system. /usr is merged as debootstrap
# merges it (directory symlinks and usr-is-merged), not by the usrmerge package, which apt would
# otherwise pick for init-system-helpers and which brings perl into the system.
pve_csi_mmdebstrap() {
  local log=$1; shift
  mkdir -p "$PVE_CSI_DEB_CACHE"
  (
    flock 7
    PVE_CSI_DEB_CACHE=$PVE_CSI_DEB_CACHE unshare --mount --propagation private -- \
      mmdebstrap --mode=root --skip=download/empty,essential/unlink \
        --aptopt='Acquire::Languages "none"' --dpkgopt=force-unsafe-io \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --setup-hook='mkdir -p "$1/var/cache/apt/archives" && mount --bind "$PVE_CSI_DEB_CACHE" "$1/var/cache/apt/archives"' \
        --customize-hook='umount "$1/var/cache/apt/archives"' \
        --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$1/etc/apt/apt.conf.d/99mmdebstrap"' \
        "$@"
  ) 7>"$PVE_CSI_DEB_CACHE/.lock" >"$log" 2>&1
}
