#!/usr/bin/env bash
# The storage node of `npm run demo` (run-flow-demo.sh), INSIDE the QEMU guest (disk
# /dev/vda): Cinder's `cinder-volumes` VG with the volumes the stand-in cloud knows (LV
# volume-<id>), filled with data; then `cinder-lvm-backup agent` as a storage node runs it,
# reaching the host's Postgres only through QEMU's restricted forward (10.0.2.100:5432) as
# its own login role. The host drives the rest through files in /out:
#   /out/node-ready             written here once the volumes exist and the agent runs
#   /out/compare-request        "SOURCE_ID TARGET_ID" from the host: compare a restored volume
#   /out/compare-result         RESULT lines written back (then the request is removed)
#   /out/stop                   from the host: stop the agent (SIGTERM), check, power off
# Env: GPT_ID PLAIN_ID THIN_ID TARGET_ID (Cinder volume ids), STOP_AFTER (seconds, a bound).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../storage-node/scenarios/lib.sh
. "$PROJECT/test/storage-node/scenarios/lib.sh"
WORK=$(mktemp -d /tmp/flow.XXXXXX)
export PAGER=cat PSQL_PAGER=cat
node_log() { echo "node: $*"; }

set -e
clb_make_vg /dev/vda
gpt=volume-$GPT_ID plain=volume-$PLAIN_ID thin=volume-$THIN_ID target=volume-$TARGET_ID

# 1. partitioned (GPT: ext4 "data", xfs "logs", a raw BIOS boot partition), as an image
#    installed with a boot loader would be.
clb_thick_lv "$gpt" 1024 >/dev/null
clb_gpt_layout "/dev/$VG/$gpt"
mapfile -t p < <(clb_map "/dev/$VG/$gpt")
mkfs.ext4 -q -L data "${p[0]}"
mkfs.xfs -q -L logs "${p[1]}"
dd if=/dev/urandom of="${p[2]}" bs=1M count=8 conv=nocreat status=none
mkdir -p "$WORK/m"
mount "${p[0]}" "$WORK/m"
cp -a /etc "$WORK/m/etc"                       # a system's configuration
clb_populate "$WORK/m"                         # plus xattrs, ACLs, links, owners, holes
clb_walk "$WORK/m" >"$WORK/gpt1.walk"
umount "$WORK/m"
mount "${p[1]}" "$WORK/m"
mkdir -p "$WORK/m/nginx"
for i in 1 2 3; do seq -f "%.0f GET /index.html 200 served in 12 ms" 1 100000 >"$WORK/m/nginx/access.log.$i"; done
clb_populate "$WORK/m"
clb_walk "$WORK/m" >"$WORK/gpt2.walk"
umount "$WORK/m"
clb_table "/dev/$VG/$gpt" >"$WORK/gpt.table"
for i in 0 1 2; do clb_identity "${p[$i]}" >"$WORK/gpt.id$i"; done
clb_unmap "/dev/$VG/$gpt"
node_log "$gpt: GPT, ext4 'data' + xfs 'logs' + raw BIOS boot partition"

# 2. no partition table: ext4 on the whole volume, as a data disk formatted by hand.
clb_thick_lv "$plain" 1024 >/dev/null
mkfs.ext4 -q -L scratch "/dev/$VG/$plain"
mount "/dev/$VG/$plain" "$WORK/m"
mkdir -p "$WORK/m/db"
for i in 1 2 3; do head -c 8M /dev/urandom >"$WORK/m/db/table-$i.ibd"; done
clb_populate "$WORK/m"
umount "$WORK/m"
node_log "$plain: ext4 on the whole volume, no partition table"

# 3. thin (Cinder's lvm_type=thin): xfs in a thin pool.
clb_thin_pool pool 1536
clb_thin_lv "$thin" 1024 pool >/dev/null
mkfs.xfs -q -L thin "/dev/$VG/$thin"
mount "/dev/$VG/$thin" "$WORK/m"
cp -a /usr/share/zoneinfo "$WORK/m/zoneinfo"
clb_populate "$WORK/m"
umount "$WORK/m"
node_log "$thin: thin LV in pool $VG/pool, xfs"

# 4. the empty volume a restore will be written to (Cinder made it with lvcreate).
clb_thick_lv "$target" 1024 >/dev/null
set +e
lvs -o lv_name,lv_size,pool_lv,data_percent --units m "$VG" | sed 's/^/node:   /'

# The agent, as systemd would run it on a storage node (its configuration file is in /out).
mkdir -p -m 0700 /out/backups
node "$PROJECT/dist/cli.js" --config /out/agent.conf agent >>/out/agent.log 2>&1 &
agent=$!
# Ready once the agent says it serves its backend (node starts slowly under emulation).
for _ in $(seq 1 300); do
  grep -q '"msg":"agent started"' /out/agent.log 2>/dev/null && break
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.5
done
node_log "$(head -1 /out/agent.log) (pid $agent, configuration /out/agent.conf)"
touch /out/node-ready

compare() { # compare SOURCE_ID TARGET_ID: the restored GPT volume against the original
  local dst=volume-$2 i
  mapfile -t q < <(clb_map "/dev/$VG/$dst")
  clb_table "/dev/$VG/$dst" >"$WORK/dst.table"
  clb_compare "partition table" "$WORK/gpt.table" "$WORK/dst.table" && echo "RESULT table PASS" || echo "RESULT table FAIL"
  for i in 0 1 2; do
    clb_identity "${q[$i]}" >"$WORK/dst.id$i"
    clb_compare "partition $((i + 1)) identity" "$WORK/gpt.id$i" "$WORK/dst.id$i" \
      && echo "RESULT identity-p$((i + 1)) PASS" || echo "RESULT identity-p$((i + 1)) FAIL"
  done
  mapfile -t p < <(clb_map "/dev/$VG/volume-$1")
  cmp -s "${p[2]}" "${q[2]}" && echo "RESULT raw-p3 PASS" || echo "RESULT raw-p3 FAIL"
  for i in 1 2; do
    clb_mount_ro "${q[$((i - 1))]}" "$WORK/m"
    clb_walk "$WORK/m" >"$WORK/dst$i.walk"
    umount "$WORK/m"
    clb_compare "tree of partition $i ($(grep -c . "$WORK/dst$i.walk") lines)" "$WORK/gpt$i.walk" "$WORK/dst$i.walk" \
      && echo "RESULT tree-p$i PASS" || echo "RESULT tree-p$i FAIL"
  done
  clb_unmap "/dev/$VG/$dst"
  clb_unmap "/dev/$VG/volume-$1"
}

deadline=$(($(date +%s) + ${STOP_AFTER:-1500}))
while [ ! -e /out/stop ] && [ "$(date +%s)" -lt "$deadline" ]; do
  if [ -s /out/compare-request ]; then
    read -r src dst </out/compare-request
    compare "$src" "$dst" >/out/compare-result.tmp 2>&1
    mv /out/compare-result.tmp /out/compare-result
    rm -f /out/compare-request
  fi
  kill -0 "$agent" 2>/dev/null || { node_log "the agent exited"; break; }
  sleep 1
done

kill -TERM "$agent" 2>/dev/null
wait "$agent"
code=$?
node_log "agent stopped (exit $code)"
left=$(clb_leftovers)
{
  echo "RESULT agent-exit $([ "$code" = 0 ] && echo PASS || echo "FAIL exit $code")"
  echo "RESULT no-leftovers $([ -z "$left" ] && echo PASS || echo "FAIL $left")"
} >/out/node-stopped
cat /out/node-stopped
