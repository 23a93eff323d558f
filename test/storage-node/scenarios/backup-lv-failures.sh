#!/usr/bin/env bash
# Guest scenario for the backup engine on real LVM (runs INSIDE the storage-node guest):
#   thick and thin backups that succeed and leave nothing behind; bad input (shell
#   metacharacters, missing LV, no room for the COW, unwritable or full destination);
#   snapshot overflow while archiving; cancelled mid-archive through the abort signal
#   (SIGTERM: the same AbortSignal the agent's cancel path aborts); SIGKILL mid-archive,
#   then `reap`, then a good backup; a btrfs twin (same fsid) mounted or registered beside
#   the volume is never mixed into its backup.
# Disks: /dev/vda (the VG), /dev/vdb (the backup destination). Needs $CLB_CLI (cli.js).
# Prints "RESULT <name> ok|fail [detail]" lines that the test asserts on; exits 0 unless
# the setup itself broke, and then exits 1 with a "SETUP FAILED" line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

setup_failed() { echo "SETUP FAILED: $*" >&2; exit 1; }
# must CMD...: a set-up step inside the cases; its failure ends the scenario.
must() { "$@" || setup_failed "$* (exit $?)"; }
# need_parts N: the last clb_map gave N partition devices (mapfile cannot see its failure).
need_parts() { [ "${#parts[@]}" = "$1" ] || setup_failed "kpartx mapped ${#parts[@]} partitions, want $1"; }

CLI=(node "$CLB_CLI")
DEST=/backups
RUNROOT=/run/cinder-lvm-backup
WORK=$(mktemp -d)
result() { echo "RESULT $1 $2${3:+ $3}"; }
t() { cut -d' ' -f1 /proc/uptime; }

# What a backup may leave behind: our snapshots, their maps, mounts under the run root,
# run directories, unfinished backup directories.
leftovers() {
  lvs --noheadings -o lv_name "$VG" 2>/dev/null | awk '$1 ~ /^clb-/ { print "lv:" $1 }'
  dmsetup ls 2>/dev/null | awk '$1 ~ /-clb--/ { print "map:" $1 }'
  # Backups mount in a private mount namespace: look in every process's view (lib.sh).
  CLB_RUN_DIR=$RUNROOT clb_run_mounts | sort -u | sed 's/^/mount:/'
  [ -d "$RUNROOT" ] && find "$RUNROOT" -mindepth 1 -maxdepth 1 -printf 'rundir:%f\n'
  find "$DEST" -name '*.partial' -printf 'partial:%P\n' 2>/dev/null
}
# check_clean NAME [IGNORE-REGEX]
check_clean() {
  local l; l=$(leftovers | grep -vE "${2:-^$}" | tr '\n' ' ')
  if [ -z "$l" ]; then result "$1-clean" ok; else result "$1-clean" fail "$l"; fi
}
# json FILE EXPR: evaluates EXPR on the JSON object in FILE (as `j`).
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = eval(process.argv[2]); console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"; }
# expect_code NAME FILE CODE: the command's JSON result failed with CODE.
expect_code() {
  local got; got=$(json "$2" 'j.status + ":" + (j.error ? j.error.code : "-")' 2>&1)
  if [ "$got" = "failed:$3" ]; then result "$1" ok; else result "$1" fail "$got $(head -c 400 "$2")"; fi
}

# --- a btrfs twin: two volumes made from one image ----------------------------------------
# Issue 10 item 4. TWIN is a block copy of BTR (the same btrfs fsid, as volumes made from
# one image have) with other content written into it. Not one byte of TWIN may reach
# BTR's backup: with TWIN mounted on the node, BTR is kept raw with the reason in the
# manifest and TWIN's mount is left as it was; with TWIN only registered (what udev does
# on a node that has it), BTR's own tree is archived.
# (BACKUP_LV_ONLY=btrfs-twin runs this case alone, after a minimal setup.)
btrfs_twin_case() {
  clb_log "btrfs twin"
  BTR=volume-$(clb_new_uuid)
  TWIN=volume-$(clb_new_uuid)
  btr=$(clb_thick_lv "$BTR" 192) || setup_failed "lvcreate $BTR"
  twin=$(clb_thick_lv "$TWIN" 192) || setup_failed "lvcreate $TWIN"
  must mkfs.btrfs -q -f -L twin "$btr" >/dev/null
  ours_mark=ours-$(clb_new_uuid)
  twin_mark=twin-$(clb_new_uuid)
  # fill FILE MARK: 1 MiB of MARK lines.
  fill() { node -e 'require("fs").writeFileSync(process.argv[1], (process.argv[2] + "\n").repeat(Math.ceil(1048576 / (process.argv[2].length + 1))))' "$1" "$2"; }
  must mkdir -p /mnt/btr /mnt/twin
  must mount "$btr" /mnt/btr
  must fill /mnt/btr/data.txt "$ours_mark"
  must umount /mnt/btr
  must dd if="$btr" of="$twin" bs=1M conv=fsync status=none
  must mount "$twin" /mnt/twin
  must fill /mnt/twin/data.txt "$twin_mark"
  must fill /mnt/twin/twin-only.txt "$twin_mark"
  must sync
  # no_twin_bytes NAME JSON: no file of the backup, decompressed, holds the twin's marker,
  # and (so that the search is shown to see content) the backup holds BTR's own marker.
  no_twin_bytes() {
    local dir n_twin=0 n_ours=0 f
    dir=$(dirname "$(json "$2" 'j.manifest')")
    # (grep -c reads to the end: with pipefail, grep -q would make zstd die of SIGPIPE.)
    for f in "$dir"/*.zst; do
      [ "$(zstd -dcq "$f" | grep -acF "$twin_mark")" != 0 ] && n_twin=$((n_twin + 1))
      [ "$(zstd -dcq "$f" | grep -acF "$ours_mark")" != 0 ] && n_ours=$((n_ours + 1))
    done
    if [ "$n_twin" = 0 ] && [ "$n_ours" -gt 0 ]; then result "$1" ok; else result "$1" fail "files with the twin's marker: $n_twin, with ours: $n_ours"; fi
  }
  twin_state() { echo "$(findmnt -n -o SOURCE,OPTIONS /mnt/twin | cut -d, -f1) $(head -n1 /mnt/twin/data.txt) $(sha256sum </mnt/twin/twin-only.txt | cut -c1-16)"; }
  twin_before=$(twin_state)

  clb_log "btrfs twin mounted"
  "${CLI[@]}" backup --lv "$VG/$BTR" --dest "$DEST" --json >"$WORK/twin-mounted.json" 2>"$WORK/twin-mounted.err"
  got=$(json "$WORK/twin-mounted.json" '[j.status, j.partitions.map(p => p.fsType + "/" + p.action).join(",")].join(" ")')
  if [ "$got" = "ok btrfs/raw" ]; then result btrfs-twin-mounted ok; else result btrfs-twin-mounted fail "$got $(tail -c 600 "$WORK/twin-mounted.err")"; fi
  M=$(json "$WORK/twin-mounted.json" 'j.manifest')
  reason=$(json "$M" 'j.partitions[0].reason')
  case "$reason" in *"already mounted"*) result btrfs-twin-mounted-reason ok "$reason" ;; *) result btrfs-twin-mounted-reason fail "$reason" ;; esac
  no_twin_bytes btrfs-twin-mounted-no-twin-bytes "$WORK/twin-mounted.json"
  twin_after=$(twin_state)
  [ "$twin_after" = "$twin_before" ] && result btrfs-twin-mount-untouched ok "$twin_after" || result btrfs-twin-mount-untouched fail "$twin_before -> $twin_after"
  check_clean btrfs-twin-mounted

  clb_log "btrfs twin registered"
  must umount /mnt/twin
  must btrfs device scan "$twin" >/dev/null
  "${CLI[@]}" backup --lv "$VG/$BTR" --dest "$DEST" --json >"$WORK/twin-reg.json" 2>"$WORK/twin-reg.err"
  got=$(json "$WORK/twin-reg.json" '[j.status, j.partitions.map(p => p.fsType + "/" + p.action).join(",")].join(" ")')
  if [ "$got" = "ok btrfs/archived" ]; then result btrfs-twin-registered ok; else result btrfs-twin-registered fail "$got $(tail -c 600 "$WORK/twin-reg.err")"; fi
  dir=$(dirname "$(json "$WORK/twin-reg.json" 'j.manifest')")
  rm -rf "$WORK/twin-x" && mkdir -p "$WORK/twin-x"
  zstd -dcq "$dir/p0.tar.zst" | tar -x -C "$WORK/twin-x" -f - 2>/dev/null
  got="$(head -n1 "$WORK/twin-x/data.txt" 2>&1) $(ls "$WORK/twin-x" | tr '\n' ' ')"
  [ "$got" = "$ours_mark data.txt " ] && result btrfs-twin-registered-ours ok || result btrfs-twin-registered-ours fail "$got"
  no_twin_bytes btrfs-twin-registered-no-twin-bytes "$WORK/twin-reg.json"
  check_clean btrfs-twin-registered
}

if [ "${BACKUP_LV_ONLY:-}" = btrfs-twin ]; then
  clb_log "setup (btrfs twin only)"
  clb_make_vg /dev/vda || setup_failed "VG"
  mkfs.ext4 -q /dev/vdb || setup_failed "mkfs $DEST"
  mkdir -p "$DEST" && mount /dev/vdb "$DEST" || setup_failed "mount $DEST"
  btrfs_twin_case
  clb_log "scenario done"
  exit 0
fi

clb_log "setup"
# Every set-up command must succeed: -e (and -E for functions) until "setup done".
set -eE
trap 'setup_failed "line $LINENO: $BASH_COMMAND"' ERR
# reap-spared-dmeventd means nothing without a dmeventd (LVM starts it to monitor snapshots).
command -v dmeventd >/dev/null || setup_failed "dmeventd is not installed"
clb_make_vg /dev/vda
# (one command a line: -e does not stop at a failure inside an && list)
mkfs.ext4 -q /dev/vdb
mkdir -p "$DEST"
mount /dev/vdb "$DEST"
LV=volume-$(clb_new_uuid)
dev=$(clb_thick_lv "$LV" 560)
clb_gpt_layout "$dev"
mapfile -t parts < <(clb_map "$dev")
need_parts 3
mkfs.ext4 -q -L data "${parts[0]}"
mkfs.xfs -q -f -L logs "${parts[1]}"
head -c 8M /dev/urandom >"${parts[2]}"
mkdir -p /mnt/o1 /mnt/o2
mount "${parts[0]}" /mnt/o1
mount "${parts[1]}" /mnt/o2
clb_populate /mnt/o1
clb_populate /mnt/o2
# Bulk so that archiving takes a few seconds even here (overflow and SIGKILL need time).
head -c 32M /dev/urandom >/mnt/o1/bulk/random-32M
umount /mnt/o1 /mnt/o2
clb_unmap "$dev"
THIN=volume-$(clb_new_uuid)
clb_thin_pool pool 400
tdev=$(clb_thin_lv "$THIN" 300 pool)
mkfs.ext4 -q -L thin "$tdev"
mount "$tdev" /mnt/o1
clb_populate /mnt/o1
umount /mnt/o1
# A small overcommitted pool whose thin volume a tenant rewrites during the backup.
BUSY=volume-$(clb_new_uuid)
clb_thin_pool busypool 64
bdev=$(clb_thin_lv "$BUSY" 128 busypool)
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0 -L busy "$bdev"
mkdir -p /mnt/busy
mount "$bdev" /mnt/busy
head -c 36M /dev/urandom >/mnt/busy/data.bin
umount /mnt/busy
head -c 36M /dev/urandom >"$WORK/rewrite.bin"
trap - ERR
set +eE
clb_log "setup done"

# --- a good thick backup, verified ----------------------------------------------------
clb_log "thick backup"
s=$(t)
"${CLI[@]}" backup --lv "$VG/$LV" --dest "$DEST" --json >"$WORK/thick.json" 2>"$WORK/thick.err"
echo "thick backup: rc=$? $(awk -v a="$s" -v b="$(t)" 'BEGIN{print b-a}') s"
got=$(json "$WORK/thick.json" '[j.status, j.consistency, j.partitions.map(p => p.fsType + "/" + p.action).join(","), j.source.lvType].join(" ")')
if [ "$got" = "ok crash ext4/archived,xfs/archived,null/raw thick" ]; then result thick-backup ok; else result thick-backup fail "$got $(tail -c 600 "$WORK/thick.err")"; fi
M=$(json "$WORK/thick.json" 'j.manifest')
result thick-manifest "$(json "$M" 'j.snapshot && j.snapshot.name.startsWith("clb-") && j.snapshot.tags.includes("cinder_lvm_backup") && typeof j.snapshot.peakPercent === "number" ? "ok" : "fail"')" "$(json "$M" 'j.snapshot')"
# The snapshot's lifetime (lvcreate to lvremove) spans every archive pass and fits in the total.
result thick-snapshot-lifetime "$(json "$M" 'const t = j.timings, a = Object.keys(t).filter((k) => k.startsWith("archive:")).reduce((s, k) => s + t[k], 0); typeof t.snapshotLifetime === "number" && t.snapshotLifetime >= a + t.snapshot && t.snapshotLifetime <= t.total ? "ok" : "fail"')" "$(json "$M" 'j.timings')"
(cd "$(dirname "$M")" && sha256sum -c --quiet SHA256SUMS) && result thick-sha256sum ok || result thick-sha256sum fail
"${CLI[@]}" verify --manifest "$M" --json >"$WORK/verify.json"
result thick-verify "$(json "$WORK/verify.json" 'j.status')"
check_clean thick

# --- a good thin backup ---------------------------------------------------------------
clb_log "thin backup"
"${CLI[@]}" backup --lv "$VG/$THIN" --dest "$DEST" --json >"$WORK/thin.json" 2>"$WORK/thin.err"
got=$(json "$WORK/thin.json" '[j.status, j.source.lvType, j.partitions.map(p => p.number + "/" + p.fsType + "/" + p.action).join(",")].join(" ")')
if [ "$got" = "ok thin null/ext4/archived" ]; then result thin-backup ok; else result thin-backup fail "$got $(tail -c 600 "$WORK/thin.err")"; fi
check_clean thin

# --- a thin pool that fills while the snapshot exists ----------------------------------
# The tenant rewrites 36 MiB in place during the backup: without the snapshot that needs no
# new blocks; with it, every rewritten block needs one, more than the 64 MiB pool has. The
# backup must stop (THIN_POOL_FULL) and remove its snapshot, so the tenant's writes (queued
# by the full pool, not failed) complete and the pool gets the space back.
clb_log "thin pool full"
must mount "$bdev" /mnt/busy
before_pool=$(lvs --noheadings -o data_percent "$VG/busypool" | tr -d ' ')
s=$(t)
"${CLI[@]}" backup --lv "$VG/$BUSY" --dest "$DEST" --json >"$WORK/pool.json" 2>"$WORK/pool.err" &
bpid=$!
for _ in $(seq 1 300); do lvs --noheadings -o lv_name "$VG" | grep -q clb- && break; sleep 0.1; done
dd if="$WORK/rewrite.bin" of=/mnt/busy/data.bin bs=1M conv=notrunc,fsync status=none
ddrc=$?
wait $bpid
echo "thin pool full: backup ended $(awk -v a="$s" -v b="$(t)" 'BEGIN{print b-a}') s after it started; pool ${before_pool}% before"
expect_code thin-pool-full "$WORK/pool.json" THIN_POOL_FULL
must umount /mnt/busy
must mount "$bdev" /mnt/busy
if [ "$ddrc" = 0 ] && cmp -s "$WORK/rewrite.bin" /mnt/busy/data.bin; then result thin-pool-writes-kept ok; else result thin-pool-writes-kept fail "dd rc=$ddrc, content $(cmp "$WORK/rewrite.bin" /mnt/busy/data.bin 2>&1 | head -c 200)"; fi
must umount /mnt/busy
after_pool=$(lvs --noheadings -o data_percent "$VG/busypool" | tr -d ' ')
awk -v p="$after_pool" 'BEGIN { exit !(p + 0 < 95) }' && result thin-pool-space-back ok "${after_pool}%" || result thin-pool-space-back fail "${after_pool}%"
check_clean thin-pool

# --- bad input ------------------------------------------------------------------------
clb_log "bad input"
touch /tmp/canary
"${CLI[@]}" backup --lv "$VG/x;rm -f /tmp/canary" --dest "$DEST" --json >"$WORK/meta.json" 2>/dev/null
expect_code bad-name "$WORK/meta.json" INVALID_LV_NAME
[ -e /tmp/canary ] && result bad-name-no-shell ok || result bad-name-no-shell fail
"${CLI[@]}" backup --lv "$VG/volume-missing" --dest "$DEST" --json >"$WORK/missing.json" 2>/dev/null
expect_code missing-lv "$WORK/missing.json" LV_NOT_FOUND
"${CLI[@]}" backup --lv "$VG/$LV" --snapshot-size 100G --dest "$DEST" --json >"$WORK/space.json" 2>/dev/null
expect_code no-space "$WORK/space.json" NO_SNAPSHOT_SPACE
check_clean no-space
must mkdir -p /ro
must mount -t tmpfs -o ro,size=1m tmpfs /ro
"${CLI[@]}" backup --lv "$VG/$LV" --dest /ro/backups --json >"$WORK/ro.json" 2>/dev/null
expect_code dest-not-writable "$WORK/ro.json" DEST_NOT_WRITABLE
check_clean dest-not-writable
must mkdir -p /small
must mount -t tmpfs -o size=4m tmpfs /small
"${CLI[@]}" backup --lv "$VG/$LV" --dest /small --json >"$WORK/full.json" 2>"$WORK/full.err"
expect_code dest-full "$WORK/full.json" DEST_FULL
check_clean dest-full
[ -z "$(ls -A /small)" ] && result dest-full-nothing-kept ok || result dest-full-nothing-kept fail "$(ls -R /small | head)"

# --- snapshot overflow while archiving --------------------------------------------------
clb_log "overflow"
before=$(find "$DEST/$LV" -mindepth 1 -maxdepth 1 | wc -l)
mapfile -t parts < <(clb_map "$dev")
need_parts 3
must mount "${parts[0]}" /mnt/o1
s=$(t)
"${CLI[@]}" backup --lv "$VG/$LV" --snapshot-size 8M --dest "$DEST" --json >"$WORK/overflow.json" 2>"$WORK/overflow.err" &
bpid=$!
for _ in $(seq 1 300); do lvs --noheadings -o lv_name "$VG" | grep -q clb- && break; sleep 0.1; done
# Writes to the origin after the snapshot go to the COW: 48 MiB into 8 MiB.
dd if=/dev/urandom of=/mnt/o1/overflow.bin bs=1M count=48 conv=fsync status=none
wait $bpid
echo "overflow backup: $(awk -v a="$s" -v b="$(t)" 'BEGIN{print b-a}') s"
expect_code overflow "$WORK/overflow.json" SNAPSHOT_OVERFLOW
after=$(find "$DEST/$LV" -mindepth 1 -maxdepth 1 | wc -l)
[ "$before" = "$after" ] && result overflow-no-archive ok || result overflow-no-archive fail "$before -> $after"
check_clean overflow
rm -f /mnt/o1/overflow.bin
must umount /mnt/o1
must clb_unmap "$dev"

# --- overflow before anything is read -------------------------------------------------
# The origin is written without pause from before the snapshot exists, so its 4 MiB COW
# fills while partitions are still being mapped, probed or mounted: whichever step then
# fails, the error must name the overflow.
clb_log "early overflow"
mapfile -t parts < <(clb_map "$dev")
need_parts 3
must mount "${parts[0]}" /mnt/o1
( while :; do dd if=/dev/urandom of=/mnt/o1/churn.bin bs=1M count=16 conv=fsync status=none; done ) &
churn=$!
sleep 2
"${CLI[@]}" backup --lv "$VG/$LV" --snapshot-size 4M --dest "$DEST" --json >"$WORK/early.json" 2>"$WORK/early.err"
kill $churn; wait $churn 2>/dev/null
expect_code early-overflow "$WORK/early.json" SNAPSHOT_OVERFLOW
check_clean early-overflow
rm -f /mnt/o1/churn.bin
must umount /mnt/o1
must clb_unmap "$dev"

# --- cancelled mid-archive through the abort signal ------------------------------------
# SIGTERM makes the CLI abort the AbortSignal it gave backupLv, the signal the agent aborts
# when a job is cancelled: the backup must stop with ABORTED and undo everything itself
# (no reap): no snapshot, map, mount, run directory or .partial.
clb_log "cancel"
before=$(find "$DEST/$LV" -mindepth 1 -maxdepth 1 | wc -l)
"${CLI[@]}" backup --lv "$VG/$LV" --dest "$DEST" --json >"$WORK/cancel.json" 2>"$WORK/cancel.err" &
bpid=$!
archiving=no
for _ in $(seq 1 600); do
  # (the snapshot is checked in $left below: lvs is slow here and only confirms it)
  if pgrep -x tar >/dev/null && [ -n "$(CLB_RUN_DIR=$RUNROOT clb_run_mounts)" ]; then
    archiving=yes
    break
  fi
  sleep 0.1
done
left=$(leftovers | tr '\n' ' ')
kill -TERM $bpid
s=$(t)
wait $bpid
echo "cancel: rc=$? stopped $(awk -v a="$s" -v b="$(t)" 'BEGIN{print b-a}') s after SIGTERM"
# The cancel must have hit a running archive (snapshot, mount and tar all there).
case "$archiving $left" in yes*lv:clb-*mount:*) result cancel-mid-archive ok ;; *) result cancel-mid-archive fail "$archiving $left" ;; esac
expect_code cancel-aborted "$WORK/cancel.json" ABORTED
after=$(find "$DEST/$LV" -mindepth 1 -maxdepth 1 | wc -l)
[ "$before" = "$after" ] && result cancel-no-backup ok || result cancel-no-backup fail "$before -> $after"
pgrep -x tar >/dev/null && result cancel-no-tar fail "$(pgrep -a -x tar)" || result cancel-no-tar ok
check_clean cancel

# --- SIGKILL mid-archive, reap, back up again ------------------------------------------
clb_log "sigkill and reap"
"${CLI[@]}" backup --lv "$VG/$LV" --dest "$DEST" --json >"$WORK/killed.json" 2>&1 &
bpid=$!
for _ in $(seq 1 600); do
  pgrep -x tar >/dev/null && [ -n "$(CLB_RUN_DIR=$RUNROOT clb_run_mounts)" ] && break
  sleep 0.1
done
sleep 1
kill -KILL $bpid
wait $bpid 2>/dev/null
dmeventd=$(pgrep -x dmeventd | head -1)
left=$(leftovers | tr '\n' ' ')
echo "left after SIGKILL: $left"
case "$left" in *lv:clb-*mount:*) result killed-left-something ok ;; *) result killed-left-something fail "$left" ;; esac
"${CLI[@]}" reap --json >"$WORK/reap.json" 2>"$WORK/reap.err"
cat "$WORK/reap.json"
result reap-status "$(json "$WORK/reap.json" 'j.status')" "$(tail -c 400 "$WORK/reap.err")"
# The mounts go either by umount or with the private namespace's holder process (ended as a
# 'process'); check_clean below looks for them in every namespace.
result reap-kinds "$(json "$WORK/reap.json" '["snapshot","map","dir"].every(k => j.removed.some(r => r.kind === k)) && j.removed.some(r => r.kind === "mount" || r.kind === "process") ? "ok" : "fail"')" "$(json "$WORK/reap.json" 'j.removed.map(r => r.kind).join(",")')"
if [ -z "$dmeventd" ]; then result reap-spared-dmeventd fail "no dmeventd was running, nothing to spare"
elif kill -0 "$dmeventd" 2>/dev/null; then result reap-spared-dmeventd ok "pid $dmeventd"
else result reap-spared-dmeventd fail "dmeventd $dmeventd is gone"; fi
# A SIGKILLed run's unfinished directory stays as <id>.partial (never a backup) until the
# next backup of the volume sweeps it.
check_clean reaped '^partial:'
"${CLI[@]}" backup --lv "$VG/$LV" --dest "$DEST" --json >"$WORK/again.json" 2>"$WORK/again.err"
result backup-after-reap "$(json "$WORK/again.json" 'j.status')" "$(tail -c 400 "$WORK/again.err")"
check_clean after-reap

btrfs_twin_case
clb_log "scenario done"
