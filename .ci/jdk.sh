# shellcheck shell=bash
# Sourced: exports JAVA_HOME (and PATH) for a JDK >= 21. Keeps a suitable JAVA_HOME, else prefers
# Temurin 25 (these machines' default java is 17, with Temurin 25 beside it), else any
# /usr/lib/jvm/* whose java reports a feature version >= 21; without one it stops and says so.
pve_csi_java_feature() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | awk -F' = ' '/java.specification.version/ { print $2 }'
}
pve_csi_pick_jdk() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [[ -n $candidate && -x $candidate/bin/java && -x $candidate/bin/javac ]] || continue
    version=$(pve_csi_java_feature "$candidate")
    if [[ $version =~ ^[0-9]+$ ]] && ((version >= 21)); then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if ! JAVA_HOME=$(pve_csi_pick_jdk); then
  echo "no JDK >= 21 found (JAVA_HOME or /usr/lib/jvm/*); install one, e.g. Temurin 25" >&2
  return 1 2>/dev/null || exit 1
fi
export JAVA_HOME
export PATH=$JAVA_HOME/bin:$PATH
