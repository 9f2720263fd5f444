# shellcheck shell=bash
# Sourced: pve_csi_debian_mirror and pve_csi_debian_security_mirror print the Debian archive
# URIs this machine's own apt configuration uses (no mirror host is named anywhere in the
# project). They read `apt-get indextargets`, i.e. the repositories apt has lists for, and pick
# the one whose Release file says Origin "Debian" and Label "Debian" (or "Debian-Security").
# Print nothing and return 1 when apt knows no such repository (run `apt-get update` first).

# pve_csi_apt_repo_uri <label>: the first REPO_URI of a Debian-origin repository with that
# Label, without its trailing slash.
pve_csi_apt_repo_uri() {
  local label=$1 uri
  command -v apt-get >/dev/null || return 1
  uri=$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 'Created-By: Packages' 2>/dev/null \
    | awk -F'|' -v label="$label" '$1 == "Debian" && $2 == label { print $3; exit }')
  [[ -n $uri ]] || return 1
  echo "${uri%/}"
}

pve_csi_debian_mirror() { pve_csi_apt_repo_uri Debian; }
pve_csi_debian_security_mirror() { pve_csi_apt_repo_uri Debian-Security; }
