#!/usr/bin/env bash
# Guest side of test/bench/snapshot-lifetime.ts (runs INSIDE the storage-node guest).
# Disks: /dev/vda (the VG), /dev/vdb (the backup destination). /out/source.img: the ext4
# image the host built (mixed data), written into a thick LV.
# Env: THIS_CLI (cli.js of this build), BASE_CLI (another build's, or empty), REPS.
# Writes /out/measures.tsv, one line per measure:
#   name  wall-s  user-s  sys-s  out-bytes  lifetime-s
# (user/sys: GNU time of the command and its children; lifetime: lvcreate to lvremove,
# "-" where it does not apply) and /out/<name>.json, /out/<name>.manifest.json per backup.
set -euo pipefail
. "$(dirname "$0")/../storage-node/scenarios/lib.sh"
: "${THIS_CLI:?}" "${REPS:=1}" "${BASE_CLI:=}"
OUT=/out
M=$OUT/measures.tsv
: >"$M"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# The engine's tar arguments (src/engine/args/archive-args.ts), writing to stdout.
TAR_ENGINE=(tar --create --file=- --format=posix --xattrs '--xattrs-include=*' --acls
  --numeric-owner --sparse --one-file-system --exclude=./lost+found)
# measure NAME LIFETIME COMMAND...: GNU time of a shell command line; stdout is counted.
measure() {
  local name=$1 life=$2
  shift 2
  /usr/bin/time -f '%e %U %S' -o /tmp/time.out bash -c "$* | wc -c >/tmp/bytes.out"
  read -r e u s </tmp/time.out
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$e" "$u" "$s" "$(cat /tmp/bytes.out)" "$life" >>"$M"
  clb_log "$name: ${e} s wall, ${u} s user, ${s} s sys, $(cat /tmp/bytes.out) bytes out"
}

clb_make_vg /dev/vda
LV=volume-$(clb_new_uuid)
size=$(stat -c %s /out/source.img)
lvcreate -q -y -L "$((size / 1048576))M" -n "$LV" "$VG" >/dev/null
# The VG's extents on a fresh sparse disk read as zeros: the image's holes need no writing.
dd if=/out/source.img of="/dev/$VG/$LV" bs=4M conv=sparse,fsync status=none
# The engine's default COW (20 % of the origin), for the raw read's snapshot too.
COW=$((size / 1048576 / 5))M
mkfs.ext4 -q -F /dev/vdb
mkdir -p /backups /mnt/snap /mnt/origin
mount /dev/vdb /backups
mkdir -m 700 /backups/this /backups/base
clb_log "LV $VG/$LV ($((size / 1048576)) MiB), used $(mount -o ro "/dev/$VG/$LV" /mnt/origin && df --output=used -B1M /mnt/origin | tail -1; umount /mnt/origin) MiB"

# raw_read NAME: lvcreate, mount, tar -cf - . | cat, umount, lvremove (the lifetime).
raw_read() {
  drop
  local t0 t1
  t0=$(now)
  lvcreate -q -y -s -L "$COW" -n clb-raw "$VG/$LV" >/dev/null
  mount -o ro "/dev/$VG/clb-raw" /mnt/snap
  /usr/bin/time -f '%e %U %S' -o /tmp/time.out bash -c 'cd /mnt/snap && tar -cf - . | cat >/dev/null'
  umount /mnt/snap
  lvremove -q -f "$VG/clb-raw" >/dev/null
  t1=$(now)
  read -r e u s </tmp/time.out
  printf '%s\t%s\t%s\t%s\t-\t%s\n' "$1" "$e" "$u" "$s" "$(el "$t0" "$t1")" >>"$M"
  clb_log "$1: lifetime $(el "$t0" "$t1") s (tar | cat ${e} s, ${u} s user, ${s} s sys)"
}

# What bounds the archive pass: the engine's tar into cat, zstd at the engine's setting
# (-3, one worker per core), and the alternatives, each from cold caches on one snapshot.
pipelines() {
  lvcreate -q -y -s -L "$COW" -n clb-pipes "$VG/$LV" >/dev/null
  mount -o ro "/dev/$VG/clb-pipes" /mnt/snap
  local tar="${TAR_ENGINE[*]} --directory=/mnt/snap ."
  local n
  n=$(nproc)
  drop; measure "pipe:tar|cat" - "$tar | cat"
  drop; measure "pipe:tar|zstd-3-T$n" - "$tar | zstd -3 -T$n -q -c"
  drop; measure "pipe:tar|zstd-1-T$n" - "$tar | zstd -1 -T$n -q -c"
  drop; measure "pipe:tar|zstd-adapt-T$n" - "$tar | zstd --adapt -T$n -q -c"
  drop; measure "pipe:tar|zstd-adapt-max3-T$n" - "$tar | zstd --adapt=min=1,max=3 -T$n -q -c"
  drop; measure "pipe:tar|zstd-fast1-T$n" - "$tar | zstd --fast=1 -T$n -q -c"
  drop; measure "pipe:tar|zstd-3-T1" - "$tar | zstd -3 -T1 -q -c"
  umount /mnt/snap
  lvremove -q -f "$VG/clb-pipes" >/dev/null
}

# backup NAME CLI DEST FLAG: one `backup --lv`, its --json and manifest kept.
backup() {
  drop
  local name=$1 cli=$2 dest=$3 flag=$4
  /usr/bin/time -f '%e %U %S' -o /tmp/time.out \
    node "$cli" backup --lv "$VG/$LV" --dest "$dest" "$flag" --json >"$OUT/$name.json" 2>"$OUT/$name.err"
  read -r e u s </tmp/time.out
  local manifest stored life
  manifest=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).manifest)' "$OUT/$name.json")
  cp "$manifest" "$OUT/$name.manifest.json"
  stored=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).totals.storedBytes)' "$OUT/$name.json")
  life=$(node -e 'const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).timings; console.log(t.snapshotLifetime === undefined ? "-" : (t.snapshotLifetime / 1000).toFixed(3))' "$manifest")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$e" "$u" "$s" "$stored" "$life" >>"$M"
  clb_log "$name: ${e} s wall, ${u} s user, ${s} s sys, stored $stored bytes, snapshot lifetime $life s"
}

raw_read raw-1
pipelines
for i in $(seq 1 "$REPS"); do
  # Alternating which build goes first, so neither always follows the other.
  if [ -n "$BASE_CLI" ] && [ $((i % 2)) = 0 ]; then
    backup "full-base-$i" "$BASE_CLI" /backups/base --full
    rm -rf /backups/base/*
  fi
  backup "full-this-$i" "$THIS_CLI" /backups/this --full
  if [ -n "$BASE_CLI" ] && [ $((i % 2)) = 1 ]; then
    backup "full-base-$i" "$BASE_CLI" /backups/base --full
    rm -rf /backups/base/*
  fi
done
raw_read raw-2

# About 1 % of the files changed (a line appended to every 100th), then incrementals on the
# last full backup of this build (each removed again, so each is level 1 on that one).
mount "/dev/$VG/$LV" /mnt/origin
changed=0
while IFS= read -r -d '' f; do
  changed=$((changed + 1))
  if [ $((changed % 100)) = 1 ]; then printf 'changed by the benchmark\n' >>"$f"; fi
done < <(find /mnt/origin -path /mnt/origin/lost+found -prune -o -type f -print0 | sort -z)
umount /mnt/origin
clb_log "changed $(((changed + 99) / 100)) of $changed files"
printf 'files\t%s\t%s\n' "$changed" "$(((changed + 99) / 100))" >"$OUT/changes.tsv"
for i in $(seq 1 "$REPS"); do
  backup "inc-this-$i" "$THIS_CLI" /backups/this --incremental
  dir=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).backupDir)' "$OUT/inc-this-$i.json")
  rm -rf "$dir"
done
raw_read raw-3
clb_log "done"
