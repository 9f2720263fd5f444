# shellcheck shell=bash
# The expensive layer of the driver image, sourced by src/image/build: a Debian root file system
# made by mmdebstrap (.ci/debian-rootfs.sh) from the mirrors this machine's apt uses, with the
# packages of image.properties at the newest versions of the suite and its -updates and -security
# repositories, trimmed as Debian's slim container images are. Its text is part of the base key,
# so any change here rebuilds the base; changes elsewhere reuse it.

# base_rootfs <dir>: builds the root file system in <dir>.
base_rootfs() {
  local root=$1
  rm -rf "$root"
  # One bootstrap from all three repositories installs the updated versions at once (what
  # debootstrap of the suite followed by apt-get upgrade gave); the repositories are left in the
  # image as one deb822 file.
  local sources=("deb $MIRROR $SUITE $COMPONENTS" "deb $MIRROR $SUITE-updates $COMPONENTS")
  [[ -z $SECURITY_MIRROR ]] || sources+=("deb $SECURITY_MIRROR $SUITE-security $COMPONENTS")
  SOURCES_FILE=$(debian_sources) pve_csi_mmdebstrap "$WORK/mmdebstrap.log" \
    --variant=minbase --include="${PACKAGES// /,}" \
    --customize-hook='rm -f "$1/etc/apt/sources.list" && printf "%s\n" "$SOURCES_FILE" >"$1/etc/apt/sources.list.d/debian.sources"' \
    "$SUITE" "$root" "${sources[@]}" \
    || { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $WORK/mmdebstrap.log)"; }

  # What a container never reads, trimmed as in Debian's slim images (copyright files stay);
  # /dev, resolv.conf and the host name are the runtime's.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/dev/*
  find "$root/usr/share/doc" -type f ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/var/log" -type f -delete
  : >"$root/etc/resolv.conf"
  rm -f "$root/etc/hostname"
}

# debian_sources: the image's apt repositories in deb822 form, the same mirrors the build used.
debian_sources() {
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\n' \
    "$MIRROR" "$SUITE" "$SUITE" "$COMPONENTS"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [[ -n $SECURITY_MIRROR ]]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\n' \
      "$SECURITY_MIRROR" "$SUITE" "$COMPONENTS"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
}
