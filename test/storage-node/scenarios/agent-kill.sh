#!/usr/bin/env bash
# Guest scenario (runs INSIDE the storage-node guest): the engine process killed at every
# step of a backup and of a restore, then `reap` (what the agent runs when it starts again),
# then the same job again. The kill provably lands at its step: the CLI is started with
# CLB_TEST_PAUSE_AT=<point> (src/lifecycle/step-pause.ts), freezes there and writes
# "<pid> <point>" to a ready file; the scenario checks that and the node's state at that
# step (snapshot there, maps there, N mounts, tar running, file not renamed, ...), then
# SIGKILLs it. After the reap nothing may be left (snapshot, map, mount, run directory,
# FIFO, tar/zstd/mkfs or namespace holder; the killed backup's `<id>.partial` directory is
# swept by the next backup of the volume, never counted as one), the rerun must succeed and
# afterwards nothing at all is left, no `.partial` included.
# Uses the VG "$VG" if it exists (after backup-lv-failures.sh in the same boot), else makes
# it on $1 (default /dev/vda). Needs $CLB_CLI (cli.js). AGENT_KILL_ONLY=restore skips the
# backup steps (one plain backup to restore from), to try the restore steps alone by hand.
# Prints "RESULT <name> ok|fail [detail]" lines and a figures line "agent-kill: ...".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

CLI=(node "$CLB_CLI")
RUNROOT=/run/cinder-lvm-backup
WORK=$(mktemp -d)
DEST=${AGENT_KILL_DEST:-/var/tmp/agent-kill}
result() { echo "RESULT $1 $2${3:+ $3}"; }
setup_failed() { echo "SETUP FAILED: $*" >&2; exit 1; }

clb_log "agent-kill setup"
set -eE
trap 'setup_failed "line $LINENO: $BASH_COMMAND"' ERR
vgs "$VG" >/dev/null 2>&1 || clb_make_vg "${1:-/dev/vda}"
mkdir -p "$DEST"
SRC=volume-$(clb_new_uuid)
DST=volume-$(clb_new_uuid)
src=$(clb_thick_lv "$SRC" 160)
printf 'label: gpt\nsize=80MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nsize=60MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
  sfdisk -q --no-reread --no-tell-kernel "$src" >/dev/null
mapfile -t parts < <(clb_map "$src")
[ "${#parts[@]}" = 2 ] || setup_failed "kpartx mapped ${#parts[@]} partitions, want 2"
mkfs.ext4 -q -L one "${parts[0]}"
mkfs.ext4 -q -L two "${parts[1]}"
mkdir -p "$WORK/m"
mount "${parts[0]}" "$WORK/m"
# Enough that tar is still running when the first compressed bytes are stored.
head -c 16M /dev/urandom >"$WORK/m/random"
mkdir "$WORK/m/dir" && for i in $(seq 1 50); do echo "file $i" >"$WORK/m/dir/f$i"; done
umount "$WORK/m"
mount "${parts[1]}" "$WORK/m"
head -c 4M /dev/urandom >"$WORK/m/random"
umount "$WORK/m"
clb_unmap "$src"
dst=$(clb_thick_lv "$DST" 160)
# The target's dm name and the kpartx maps a restore makes of it ("<dm name>[p]N").
DST_DM="${VG//-/--}-${DST//-/--}"
trap - ERR
set +eE

# What a killed run can leave: our snapshots and their maps, the restore target's partition
# maps, mounts under the run root (every mount namespace), run directories, FIFOs, our
# programs (tar, zstd, mkfs, the namespace holder `sleep infinity` in a run directory), and
# unfinished backup directories and files (`.partial`, listed only with $1 = all).
leftovers() {
  lvs --noheadings -o lv_name,lv_tags "$VG" 2>/dev/null | awk '$1 ~ /^clb-/ || $2 ~ /cinder_lvm_backup/ { print "lv:" $1 }'
  dmsetup ls 2>/dev/null | awk -v t="$DST_DM" '$1 ~ /-clb--/ || $1 ~ ("^" t "p?[0-9]+$") { print "map:" $1 }'
  CLB_RUN_DIR=$RUNROOT clb_run_mounts | sort -u | sed 's/^/mount:/'
  [ -d "$RUNROOT" ] && find "$RUNROOT" -mindepth 1 -maxdepth 1 -printf 'rundir:%f\n'
  find "$RUNROOT" "$DEST" -type p -printf 'fifo:%p\n' 2>/dev/null
  local p n
  for n in tar zstd mkfs.ext4 mke2fs; do
    for p in $(pgrep -x "$n"); do echo "process:$p:$n"; done
  done
  for p in $(pgrep -x sleep); do
    case $(readlink /proc/"$p"/cwd 2>/dev/null) in "$RUNROOT"/*) echo "process:$p:holder" ;; esac
  done
  [ "${1:-}" = all ] && find "$DEST" -name '*.partial' -printf 'partial:%P\n' 2>/dev/null
  return 0
}
# Finished backups of the source: directories that are not `.partial`, each with a manifest.
backups() { find "$DEST/$SRC" -mindepth 1 -maxdepth 1 -type d ! -name '*.partial' 2>/dev/null | wc -l; }
workdir() { find "$DEST/$SRC" -mindepth 1 -maxdepth 1 -type d -name '*.partial' 2>/dev/null | head -1; }
mounts() { CLB_RUN_DIR=$RUNROOT clb_run_mounts | sort -u | wc -l; }

# at_step POINT: the node's state at POINT, checked while the process is frozen there.
at_step() {
  local w; w=$(workdir)
  case $1 in
    snapshot) lvs --noheadings -o lv_name "$VG" | grep -q ' clb-' && [ "$(mounts)" = 0 ] ;;
    kpartx) [ -n "$(dmsetup ls | awk '$1 ~ /-clb--/')" ] && [ "$(mounts)" = 0 ] ;;
    mount:p1) [ "$(mounts)" = 1 ] ;;
    mount:p2) [ "$(mounts)" = 2 ] ;;
    archive:p1.tar.zst) [ -e "$w/p1.tar.zst.partial" ] && pgrep -x tar >/dev/null ;;
    commit:p1.tar.zst) [ -e "$w/p1.tar.zst.partial" ] && [ ! -e "$w/p1.tar.zst" ] ;;
    cleanup:umount) [ "$(mounts)" = 1 ] && lvs --noheadings -o lv_name "$VG" | grep -q ' clb-' ;;
    commit-dir) [ -e "$w/manifest.json" ] && [ -e "$w/SHA256SUMS" ] && [ "$(mounts)" = 0 ] ;;
    mkfs:p1) [ -n "$(dmsetup ls | awk -v t="$DST_DM" '$1 ~ ("^" t "p?1$")')" ] ;;
    extract:p1.tar.zst) pgrep -x tar >/dev/null && [ "$(mounts)" = 1 ] ;;
    *) return 1 ;;
  esac
}

steps=0 landed=0 left_total=0 reruns=0
backup_points=() restore_points=()
# kill_at KIND POINT CLI-ARGS...: one step: run armed, check, kill, reap, check, run again.
kill_at() {
  local kind=$1 point=$2 name pid ready state left before after rc
  shift 2
  name=kill-$kind-${point//[:.]/-}
  steps=$((steps + 1))
  if [ "$kind" = backup ]; then backup_points+=("$point"); else restore_points+=("$point"); fi
  clb_log "$name"
  before=$(backups)
  rm -f "$WORK/ready"
  CLB_TEST_PAUSE_AT=$point CLB_TEST_PAUSE_READY=$WORK/ready "${CLI[@]}" "$@" --json \
    >"$WORK/$name.json" 2>"$WORK/$name.err" &
  pid=$!
  for _ in $(seq 1 3000); do
    [ -s "$WORK/ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  ready=$(cat "$WORK/ready" 2>/dev/null)
  if at_step "$point"; then state=ok; else state="not at the step: $(leftovers all | tr '\n' ' ')"; fi
  if [ "$ready" = "$pid $point" ] && kill -KILL "$pid" 2>/dev/null && [ "$state" = ok ]; then
    result "$name-landed" ok
    landed=$((landed + 1))
  else
    result "$name-landed" fail "ready='$ready' pid=$pid state=$state $(tail -c 400 "$WORK/$name.json" "$WORK/$name.err" | tr '\n' ' ')"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  echo "$name: left by the kill: $(leftovers all | tr '\n' ' ')"
  [ "$(backups)" = "$before" ] && result "$name-no-backup" ok || result "$name-no-backup" fail "$before -> $(backups)"
  "${CLI[@]}" reap --json >"$WORK/$name-reap.json" 2>"$WORK/$name-reap.err"
  echo "$name: reaped $(jq -r '[.removed[] | .kind + ":" + .name] | join(" ")' "$WORK/$name-reap.json" 2>&1)"
  left=$(leftovers | tr '\n' ' ')
  if [ "$(jq -r .status "$WORK/$name-reap.json" 2>/dev/null)" = ok ] && [ -z "$left" ]; then
    result "$name-reaped-clean" ok
  else
    result "$name-reaped-clean" fail "$left $(tail -c 300 "$WORK/$name-reap.json" "$WORK/$name-reap.err" | tr '\n' ' ')"
    left_total=$((left_total + $(leftovers | wc -l)))
  fi
  "${CLI[@]}" "$@" --json >"$WORK/$name-again.json" 2>"$WORK/$name-again.err"
  rc=$?
  after=$(backups)
  if [ "$rc" = 0 ] && [ "$(jq -r .status "$WORK/$name-again.json")" = ok ] &&
    { [ "$kind" = restore ] || [ "$after" = $((before + 1)) ]; } &&
    { [ "$kind" = backup ] || [ "$(jq -r '[.checks[].ok] | all' "$WORK/$name-again.json")" = true ]; }; then
    result "$name-rerun" ok
    reruns=$((reruns + 1))
  else
    result "$name-rerun" fail "rc=$rc backups $before -> $after $(tail -c 500 "$WORK/$name-again.json" "$WORK/$name-again.err" | tr '\n' ' ')"
  fi
  left=$(leftovers all | tr '\n' ' ')
  if [ -z "$left" ]; then
    result "$name-clean-after-rerun" ok
  else
    result "$name-clean-after-rerun" fail "$left"
    left_total=$((left_total + $(leftovers all | wc -l)))
  fi
}

B=(backup --lv "$VG/$SRC" --dest "$DEST")
if [ "${AGENT_KILL_ONLY:-}" = restore ]; then
  "${CLI[@]}" "${B[@]}" --json >"$WORK/plain-backup.json" 2>&1 || setup_failed "backup: $(tail -c 400 "$WORK/plain-backup.json")"
else
  for point in snapshot kpartx mount:p1 mount:p2 archive:p1.tar.zst commit:p1.tar.zst cleanup:umount commit-dir; do
    kill_at backup "$point" "${B[@]}"
  done
  # Every finished backup checks out, by a tool of its own.
  bad=0
  for d in $(find "$DEST/$SRC" -mindepth 1 -maxdepth 1 -type d ! -name '*.partial'); do
    (cd "$d" && sha256sum -c --quiet SHA256SUMS) || bad=$((bad + 1))
  done
  [ "$bad" = 0 ] && result backups-check-out ok "$(backups) backups" || result backups-check-out fail "$bad of $(backups)"
fi

M=$(find "$DEST/$SRC" -mindepth 2 -maxdepth 2 -name manifest.json | sort | tail -1)
R=(restore --manifest "$M" --target "$dst")
for point in mkfs:p1 extract:p1.tar.zst; do
  kill_at restore "$point" "${R[@]}"
done

commas() { local IFS=,; echo "$*"; }
echo "agent-kill: $steps steps (backup $(commas "${backup_points[@]}"); restore $(commas "${restore_points[@]}")), $landed kills landed at their step, $left_total leftovers, $reruns reruns succeeded"
clb_log "agent-kill done"
