#!/usr/bin/env bash
# The main job: builds the driver if needed, starts it against an example storage.cfg and
# shows what it serves with the `client` command; then boots the real-storage VM (building its
# image on first use, a few minutes), runs the driver there and walks a volume's whole life
# through it with `client` on real LVM-thin and ZFS (src/test/vm/walkthrough). Each step and
# its result is printed.
#
#   bash src/demo/demo.sh
#
# Set-up on a fresh machine (packages, a JDK >= 21) is done by .ci/prerequisites.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/prerequisites.sh

if [ ! -f target/pve-storage-csi.jar ] || [ -n "$(find src csi-spec pom.xml -newer target/pve-storage-csi.jar -type f | head -n 1)" ]; then
  echo "== building the driver (mvn -DskipTests package)"
  mvn -B -q -DskipTests package
fi

work=$(mktemp -d /tmp/pve-storage-csi-demo.XXXXXX)
socket="$work/csi.sock"
cat > "$work/storage.cfg" <<'CFG'
# The storages of a typical Proxmox VE host, in storage.cfg syntax.
dir: local
	path /var/lib/vz
	content iso,vztmpl,backup

lvmthin: local-lvm
	thinpool data
	vgname pve
	content rootdir,images

zfspool: local-zfs
	pool rpool/data
	sparse 1
	content images,rootdir
CFG

# The class-data sharing archive is written by the first run and used by the later ones.
cds=(-XX:SharedArchiveFile=target/driver.jsa -XX:+AutoCreateSharedArchive)
java_run() { "$JAVA_HOME/bin/java" @src/main/jvm/jvm.options "${cds[@]}" -jar target/pve-storage-csi.jar "$@"; }
step() { echo; echo "== $*"; }

# This machine has no lvm or zfs, so the start-up tool check is off here; the VM part below runs
# the driver where the tools are, with the check on.
step "start: pve-storage-csi serve --endpoint unix://$socket --node-id demo-node --storage-config $work/storage.cfg --lock local --check-tools=false"
"$JAVA_HOME/bin/java" @src/main/jvm/jvm.options "${cds[@]}" -jar target/pve-storage-csi.jar \
  serve --endpoint "unix://$socket" --node-id demo-node --storage-config "$work/storage.cfg" \
  --lock local --check-tools=false --metrics-address= > "$work/driver.log" 2>&1 &
driver=$!
trap 'kill -TERM $driver 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 200); do
  java_run client --endpoint "unix://$socket" probe >/dev/null 2>&1 && break
  sleep 0.1
done

step "client info (plugin info and capabilities)"
java_run client --endpoint "unix://$socket" info
step "client probe"
java_run client --endpoint "unix://$socket" probe
step "client probe --json"
java_run client --endpoint "unix://$socket" --json probe

step "stop: SIGTERM, graceful shutdown"
kill -TERM "$driver"
status=0
wait "$driver" || status=$?
echo "driver exited with status $status"
[ -e "$socket" ] && echo "socket still present (unexpected)" || echo "socket $socket removed"
step "driver log"
cat "$work/driver.log"
[ "$status" -eq 0 ] || exit "$status"

step "the driver on real LVM-thin and ZFS in the VM harness, driven with client (src/test/vm/walkthrough)"
src/test/vm/walkthrough
