# shellcheck shell=bash
# Sourced by the harness scripts: use a JDK >= 21 for Maven. Keeps a suitable JAVA_HOME, else
# prefers Temurin 25, else any /usr/lib/jvm/* whose java reports a feature version >= 21.
java_feature() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ { print $2 }'; }
pick_jdk() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [[ -n $candidate && -x $candidate/bin/java && -x $candidate/bin/javac ]] || continue
    version=$(java_feature "$candidate")
    if [[ $version =~ ^[0-9]+$ ]] && ((version >= 21)); then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
JAVA_HOME=$(pick_jdk) || { echo "no JDK >= 21 found (JAVA_HOME or /usr/lib/jvm/*); install one, e.g. openjdk-21" >&2; exit 1; }
export JAVA_HOME
export PATH=$JAVA_HOME/bin:$PATH
