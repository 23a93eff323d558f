#!/usr/bin/env bash
# `npm run demo`: the main job end to end on a fresh machine of this kind. Installs what is
# missing (Debian packages, npm dependencies), builds, boots a storage-node guest with real
# LVM (test/storage-node/), makes a `cinder-volumes` VG with a partitioned volume full of
# data, backs it up with progress shown, verifies, restores to a second volume, compares
# and prints a summary. The backup is kept under $CLB_DEMO_DIR (default /tmp/clb-demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DEMO_DIR=${CLB_DEMO_DIR:-/tmp/clb-demo}
started=$(date +%s)

echo "== preparing the machine"
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-system-deps.sh
else
  echo "not root: skipping scripts/install-system-deps.sh (run it as root if packages are missing)"
fi
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build --silent
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

echo "== booting the storage-node guest (QEMU, Debian kernel, real LVM; a few seconds under TCG)"
set +e
test/storage-node/run-guest.sh -d 4096 -m 2048 -t 1800 -o "$DEMO_DIR" -- bash test/demo/demo-guest.sh
rc=$?
set -e
echo
echo "demo finished in $(($(date +%s) - started)) s (wall, including the guest boot): $([ "$rc" = 0 ] && echo OK || echo "FAILED (exit $rc)")"
echo "backups kept under $DEMO_DIR/backups"
exit "$rc"
