# Sourced by .ci/run and the demo: installs what a fresh Debian bookworm machine of this kind
# lacks and exports JAVA_HOME pointing at a JDK >= 21. Safe to source again (idempotent).

pve_csi_java_major() {
  # Prints the major version of the java binary given as $1 (e.g. 17, 21, 25).
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

pve_csi_select_jdk() {
  local candidate major
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(pve_csi_java_major "$candidate/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then
      export JAVA_HOME="$candidate"
      export PATH="$JAVA_HOME/bin:$PATH"
      echo "prerequisites: JDK $major at $JAVA_HOME"
      return 0
    fi
  done
  echo "prerequisites: no JDK >= 21 found (looked at \$JAVA_HOME and /usr/lib/jvm/*)." >&2
  echo "prerequisites: install one, e.g. Temurin 25, and set JAVA_HOME to it." >&2
  return 1
}

pve_csi_install_packages() {
  # Debian packages the build and the tests need beyond a fresh machine.
  local missing=() pkg
  for pkg in maven util-linux e2fsprogs xfsprogs; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "prerequisites: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

pve_csi_install_packages && pve_csi_select_jdk
