# shellcheck shell=bash
# Sourced by .ci/run and the demo: installs the Debian packages a fresh bookworm machine of this
# kind lacks (the build, and the real-storage VM harness: qemu, mmdebstrap, dkms, ...), then
# selects a JDK >= 21 (.ci/jdk.sh). Idempotent: installed packages are skipped.
# mmdebstrap makes both root file systems (.ci/debian-rootfs.sh); umoci, skopeo and jq build and
# check the driver's OCI image (src/image/build).
pve_csi_packages=(maven qemu-system-x86 qemu-utils mmdebstrap busybox-static dkms zstd cpio kmod
                  e2fsprogs xfsprogs util-linux python3 gcc make umoci skopeo jq)
if [[ $(id -u) == 0 ]]; then
  pve_csi_missing=()
  for pve_csi_pkg in "${pve_csi_packages[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$pve_csi_pkg" 2>/dev/null) == "install ok installed" ]] \
      || pve_csi_missing+=("$pve_csi_pkg")
  done
  if ((${#pve_csi_missing[@]})); then
    echo "prerequisites: installing ${pve_csi_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pve_csi_missing[@]}" >/dev/null
  fi
else
  echo "prerequisites: not root, installing nothing (the VM image build needs root; see src/site/markdown/vm-harness.md)" >&2
fi
# shellcheck source=.ci/jdk.sh
source "$(dirname "${BASH_SOURCE[0]}")/jdk.sh"
echo "prerequisites: JAVA_HOME=$JAVA_HOME ($("$JAVA_HOME/bin/java" -version 2>&1 | head -n1))"
