# shellcheck shell=bash
# The expensive layer of the driver image, sourced by src/image/build: a Debian root file system
# made by debootstrap from the mirror this machine's apt uses, with the packages of
# image.properties, brought up to date from the suite's -updates and -security repositories and
# trimmed as Debian's slim container images are. Its text is part of the base key, so any change
# here rebuilds the base; changes elsewhere reuse it.

# base_rootfs <dir>: builds the root file system in <dir>.
base_rootfs() {
  local root=$1
  rm -rf "$root"
  debootstrap --variant=minbase --components="${COMPONENTS// /,}" --include="${PACKAGES// /,}" \
    "$SUITE" "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }

  # debootstrap knows one repository; the suite's point and security updates come from the same
  # mirrors this machine's apt is configured with.
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\n' \
      "$MIRROR" "$SUITE" "$SUITE" "$COMPONENTS"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n $SECURITY_MIRROR ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\n' \
        "$SECURITY_MIRROR" "$SUITE" "$COMPONENTS"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"
  # No service may start inside the build.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  local apt_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C)
  in_root "$root" "${apt_env[@]}" apt-get -q update >"$WORK/apt.log" 2>&1 \
    && in_root "$root" "${apt_env[@]}" apt-get -q -y -o Dpkg::Options::=--force-confold upgrade \
      >>"$WORK/apt.log" 2>&1 \
    && in_root "$root" "${apt_env[@]}" apt-get clean >>"$WORK/apt.log" 2>&1 \
    || { tail -n 30 "$WORK/apt.log" >&2; die "apt-get update/upgrade in the image failed (log: $WORK/apt.log)"; }
  rm -f "$root/usr/sbin/policy-rc.d"

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
