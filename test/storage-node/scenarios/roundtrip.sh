#!/usr/bin/env bash
# Round trips on real LVM, run INSIDE the storage-node guest (disk /dev/vda, >= 4 GiB):
#   gpt    thick LV, GPT: ext4 + xfs + a raw BIOS-boot partition; restored to a LARGER LV
#   plain  thick LV with ext4 directly on it (no partition table); restored to an equal LV
#   thin   thin LV in a thin pool, MBR table: ext4 + xfs; restored to another thin LV
#   fsmix  thick LV, GPT: vfat (EFI system) + btrfs + swap (skipped at backup, remade)
#   refuse restore failures on LVs: a corrupted archive (CHECKSUM_MISMATCH, no maps or
#          mounts left), a smaller target (TARGET_TOO_SMALL), a target in use (TARGET_IN_USE)
#   consistency  `backup --lv ... --ssh ... --mysqldump all --freeze MOUNT` against an
#          instance reached through the guest's forward (an sshd with MariaDB behind it, set
#          up by the caller; see case_consistency), then `restore --dump-to` into /out
# Each: populate (lib.sh), describe with the independent walk, `backup --lv ... --json`,
# `restore --manifest ... --target ... --json`, describe the restored copy, compare.
# Prints "RESULT <case> <check> PASS|FAIL [detail]" and "TIME <case> <step> <seconds>" lines.
# usage: roundtrip.sh [CASE...]   (default: gpt plain thin fsmix refuse; consistency only
#        when named, as it needs an instance)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
PROJECT=$(cd "$HERE/../../.." && pwd)
CLI=(node "$PROJECT/dist/cli.js")
DEST=${DEST:-/out/backups}
WORK=$(mktemp -d /tmp/roundtrip.XXXXXX)
mkdir -p "$DEST"

result() { echo "RESULT $1 $2 $3${4:+ $4}"; }
check() { # check CASE NAME FILE_A FILE_B
  if clb_compare "$2" "$3" "$4" >"$WORK/cmp.out" 2>&1; then
    result "$1" "$2" PASS
  else
    result "$1" "$2" FAIL
    cat "$WORK/cmp.out"
  fi
}

# backup_and_restore CASE SOURCE_LV TARGET_LV: runs the CLI both ways, records times.
backup_and_restore() {
  local c=$1 src=$2 dst=$3 t manifest status
  t=$(date +%s.%N)
  if ! "${CLI[@]}" backup --lv "$VG/$src" --dest "$DEST" --json >"$WORK/$c-backup.json" 2>"$WORK/$c-backup.err"; then
    result "$c" backup FAIL "$(cat "$WORK/$c-backup.json" "$WORK/$c-backup.err" | tail -5)"
    return 1
  fi
  echo "TIME $c backup $(clb_elapsed "$t")"
  manifest=$(jq -r .manifest "$WORK/$c-backup.json")
  result "$c" backup PASS "$manifest"
  jq -c -M '{partitions: [.partitions[] | {number, fsType, action, fileCount, bytes: .archive.bytes}], stored: .totals.storedBytes}' "$manifest"
  t=$(date +%s.%N)
  "${CLI[@]}" restore --manifest "$manifest" --target "/dev/$VG/$dst" --json >"$WORK/$c-restore.json" 2>"$WORK/$c-restore.err"
  status=$(jq -r .status "$WORK/$c-restore.json" 2>/dev/null)
  echo "TIME $c restore $(clb_elapsed "$t")"
  if [ "$status" != ok ]; then
    result "$c" restore FAIL "$(cat "$WORK/$c-restore.json" "$WORK/$c-restore.err" | tail -5)"
    return 1
  fi
  result "$c" restore PASS "$(jq -c '[.checks[] | .name]' "$WORK/$c-restore.json")"
}

leftovers_check() {
  local left
  left=$(clb_leftovers)
  if [ -z "$left" ]; then result "$1" leftovers PASS; else result "$1" leftovers FAIL "$left"; fi
}

# check_restored CASE DST IDS TREES: the restored partition table equals the source's,
# partitions 1..IDS have the source's identity (blkid) and 1..TREES the source's tree (the
# independent walk). Leaves the target's partition devices in the caller's array q.
check_restored() {
  local c=$1 dst=$2 ids=$3 trees=$4 i
  clb_table "/dev/$VG/$dst" >"$WORK/$c-table.after"
  check "$c" table "$WORK/$c-table.before" "$WORK/$c-table.after"
  mapfile -t q < <(clb_map "/dev/$VG/$dst")
  for ((i = 1; i <= ids; i++)); do
    clb_identity "${q[$((i - 1))]}" >"$WORK/$c-id$i.after"
    check "$c" "identity-p$i" "$WORK/$c-id$i.before" "$WORK/$c-id$i.after"
  done
  for ((i = 1; i <= trees; i++)); do
    clb_mount_ro "${q[$((i - 1))]}" "$WORK/$c-dst$i"
    clb_walk "$WORK/$c-dst$i" >"$WORK/$c-walk$i.after"
    umount "$WORK/$c-dst$i"
    check "$c" "tree-p$i" "$WORK/$c-walk$i.before" "$WORK/$c-walk$i.after"
  done
}

case_gpt() {
  local c=gpt src dst p q
  src=volume-$(clb_new_uuid) dst=volume-$(clb_new_uuid)
  clb_log "gpt: source $src"
  clb_thick_lv "$src" 540 >/dev/null
  clb_gpt_layout "/dev/$VG/$src"
  mapfile -t p < <(clb_map "/dev/$VG/$src")
  mkfs.ext4 -q -L data "${p[0]}"
  mkfs.xfs -q -L logs "${p[1]}"
  dd if=/dev/urandom of="${p[2]}" bs=1M count=8 conv=nocreat status=none
  for i in 1 2; do
    mkdir -p "$WORK/$c-src$i"
    mount "${p[$((i - 1))]}" "$WORK/$c-src$i"
    clb_populate "$WORK/$c-src$i"
    clb_walk "$WORK/$c-src$i" >"$WORK/$c-walk$i.before"
    umount "$WORK/$c-src$i"
    clb_identity "${p[$((i - 1))]}" >"$WORK/$c-id$i.before"
  done
  sha256sum <"${p[2]}" >"$WORK/$c-raw.before"
  clb_table "/dev/$VG/$src" >"$WORK/$c-table.before"
  clb_unmap "/dev/$VG/$src"
  clb_thick_lv "$dst" 600 >/dev/null   # larger than the source: the table must adapt
  backup_and_restore "$c" "$src" "$dst" || return 1
  leftovers_check "$c"
  check_restored "$c" "$dst" 2 2
  sha256sum <"${q[2]}" >"$WORK/$c-raw.after"
  check "$c" raw-p3 "$WORK/$c-raw.before" "$WORK/$c-raw.after"
  # Negative control: the walk must see a changed xattr (or these PASSes mean nothing).
  mount "${q[0]}" "$WORK/$c-dst1"
  setfattr -n user.comment -v changed "$WORK/$c-dst1/attrs/with-xattrs"
  clb_walk "$WORK/$c-dst1" >"$WORK/$c-walk1.changed"
  umount "$WORK/$c-dst1"
  if clb_compare control "$WORK/$c-walk1.before" "$WORK/$c-walk1.changed" >/dev/null; then
    result "$c" negative-control FAIL "the walk did not see a changed xattr"
  else
    result "$c" negative-control PASS
  fi
  clb_unmap "/dev/$VG/$dst"
}

case_plain() {
  local c=plain src dst
  src=volume-$(clb_new_uuid) dst=volume-$(clb_new_uuid)
  clb_log "plain: source $src"
  clb_thick_lv "$src" 200 >/dev/null
  mkfs.ext4 -q -L "plain vol" "/dev/$VG/$src"
  mkdir -p "$WORK/$c-src"
  mount "/dev/$VG/$src" "$WORK/$c-src"
  clb_populate "$WORK/$c-src"
  clb_walk "$WORK/$c-src" >"$WORK/$c-walk.before"
  umount "$WORK/$c-src"
  clb_identity "/dev/$VG/$src" >"$WORK/$c-id.before"
  clb_thick_lv "$dst" 200 >/dev/null   # the same size is enough
  backup_and_restore "$c" "$src" "$dst" || return 1
  leftovers_check "$c"
  clb_identity "/dev/$VG/$dst" >"$WORK/$c-id.after"
  check "$c" identity "$WORK/$c-id.before" "$WORK/$c-id.after"
  clb_mount_ro "/dev/$VG/$dst" "$WORK/$c-dst"
  clb_walk "$WORK/$c-dst" >"$WORK/$c-walk.after"
  umount "$WORK/$c-dst"
  check "$c" tree "$WORK/$c-walk.before" "$WORK/$c-walk.after"
}

case_thin() {
  local c=thin src dst p q i pool=cinder-volumes-pool
  src=volume-$(clb_new_uuid) dst=volume-$(clb_new_uuid)
  clb_log "thin: source $src"
  clb_thin_pool "$pool" 1200
  clb_thin_lv "$src" 560 "$pool" >/dev/null
  clb_dos_layout "/dev/$VG/$src"
  mapfile -t p < <(clb_map "/dev/$VG/$src")
  mkfs.ext4 -q -L thin-data "${p[0]}"
  mkfs.xfs -q -L thin-logs "${p[1]}"
  for i in 1 2; do
    mkdir -p "$WORK/$c-src$i"
    mount "${p[$((i - 1))]}" "$WORK/$c-src$i"
    clb_populate "$WORK/$c-src$i"
    clb_walk "$WORK/$c-src$i" >"$WORK/$c-walk$i.before"
    umount "$WORK/$c-src$i"
    clb_identity "${p[$((i - 1))]}" >"$WORK/$c-id$i.before"
  done
  clb_table "/dev/$VG/$src" >"$WORK/$c-table.before"
  clb_unmap "/dev/$VG/$src"
  clb_thin_lv "$dst" 560 "$pool" >/dev/null
  backup_and_restore "$c" "$src" "$dst" || return 1
  leftovers_check "$c"
  check_restored "$c" "$dst" 2 2
  clb_unmap "/dev/$VG/$dst"
  # A restore writes only what is in use: the thin target must not be filled up.
  local used_src used_dst
  used_src=$(lvs --noheadings --units b --nosuffix -o data_percent "$VG/$src" | tr -d ' ')
  used_dst=$(lvs --noheadings --units b --nosuffix -o data_percent "$VG/$dst" | tr -d ' ')
  # Both must be numbers: awk would read empty values as 0 and pass.
  if [[ $used_src =~ ^[0-9]+(\.[0-9]+)?$ && $used_dst =~ ^[0-9]+(\.[0-9]+)?$ ]] &&
    awk -v a="$used_src" -v b="$used_dst" 'BEGIN { exit !(a > 0 && b > 0 && b <= a * 1.5 + 2 && b < 50) }'; then
    result "$c" thin-allocation PASS "source ${used_src}% target ${used_dst}%"
  else
    result "$c" thin-allocation FAIL "source ${used_src}% target ${used_dst}%"
  fi
}

case_fsmix() {
  local c=fsmix src dst p q i
  src=volume-$(clb_new_uuid) dst=volume-$(clb_new_uuid)
  clb_log "fsmix: source $src"
  clb_thick_lv "$src" 400 >/dev/null
  sfdisk -q --no-reread --no-tell-kernel "/dev/$VG/$src" >/dev/null <<'TABLE'
label: gpt
start=2048, size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
size=260MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="btrfs root"
size=32MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"
TABLE
  mapfile -t p < <(clb_map "/dev/$VG/$src")
  mkfs.vfat -n EFI "${p[0]}" >/dev/null
  mkfs.btrfs -q -L "btrfs root" "${p[1]}"
  mkswap -L swap0 "${p[2]}" >/dev/null
  mkdir -p "$WORK/$c-src1" "$WORK/$c-src2"
  mount "${p[0]}" "$WORK/$c-src1"
  mkdir -p "$WORK/$c-src1/EFI/BOOT" "$WORK/$c-src1/EFI/debian"
  head -c 300000 /dev/urandom >"$WORK/$c-src1/EFI/BOOT/BOOTX64.EFI"
  printf 'search --fs-uuid\n' >"$WORK/$c-src1/EFI/debian/grub.cfg"
  touch -d '2020-01-02 03:04:06' "$WORK/$c-src1/EFI/debian/grub.cfg"
  mount "${p[1]}" "$WORK/$c-src2"
  clb_populate "$WORK/$c-src2"
  for i in 1 2; do
    clb_walk "$WORK/$c-src$i" >"$WORK/$c-walk$i.before"
    umount "$WORK/$c-src$i"
  done
  for i in 1 2 3; do clb_identity "${p[$((i - 1))]}" >"$WORK/$c-id$i.before"; done
  clb_table "/dev/$VG/$src" >"$WORK/$c-table.before"
  clb_unmap "/dev/$VG/$src"
  clb_thick_lv "$dst" 400 >/dev/null
  backup_and_restore "$c" "$src" "$dst" || return 1
  leftovers_check "$c"
  check_restored "$c" "$dst" 3 2
  clb_unmap "/dev/$VG/$dst"
}

# restore_code CASE NAME MANIFEST TARGET WANT: a restore that must fail with error code WANT,
# or succeed (status "ok", exit 0) when WANT is "ok".
restore_code() {
  local got rc want_rc
  # Each case runs under `set -e`: a refusal (exit 1) is the expected outcome here and must
  # not end the case, so its exit code is taken with `||`.
  rc=0
  "${CLI[@]}" restore --manifest "$3" --target "$4" --json >"$WORK/$1-$2.json" 2>/dev/null || rc=$?
  got=$(jq -r 'if .status == "ok" then "ok" else (.error.code // "no error code") end' "$WORK/$1-$2.json" 2>/dev/null)
  [ -n "$got" ] || got="no JSON result"
  # A success exits 0 and a refusal does not.
  if [ "$5" = ok ]; then want_rc=0; else want_rc=1; fi
  if [ "$got" = "$5" ] && [ "$((rc != 0))" = "$want_rc" ]; then
    result "$1" "$2" PASS "$got"
  else
    result "$1" "$2" FAIL "got $got (exit $rc), want $5"
  fi
}

case_refuse() {
  local c=refuse src dst small p manifest bad
  src=volume-$(clb_new_uuid) dst=volume-$(clb_new_uuid) small=volume-$(clb_new_uuid)
  clb_log "refuse: source $src"
  clb_thick_lv "$src" 96 >/dev/null
  printf 'label: gpt\nsize=80MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
    sfdisk -q --no-reread --no-tell-kernel "/dev/$VG/$src" >/dev/null
  mapfile -t p < <(clb_map "/dev/$VG/$src")
  mkfs.ext4 -q -L small "${p[0]}"
  mkdir -p "$WORK/$c-src"
  mount "${p[0]}" "$WORK/$c-src"
  for i in $(seq 1 20); do head -c 200000 /dev/urandom >"$WORK/$c-src/f$i"; done
  clb_walk "$WORK/$c-src" >"$WORK/$c-walk1.before"
  umount "$WORK/$c-src"
  clb_identity "${p[0]}" >"$WORK/$c-id1.before"
  clb_table "/dev/$VG/$src" >"$WORK/$c-table.before"
  clb_unmap "/dev/$VG/$src"
  "${CLI[@]}" backup --lv "$VG/$src" --dest "$DEST" --json >"$WORK/$c-backup.json"
  manifest=$(jq -r .manifest "$WORK/$c-backup.json")
  bad=$WORK/$c-corrupt
  cp -r "$(dirname "$manifest")" "$bad"
  # Flip one byte in the middle of the filesystem archive: same size, other content.
  local archive size
  archive=$bad/$(jq -r '.partitions[0].archive.file' "$manifest")
  size=$(stat -c %s "$archive")
  printf '\xff' | dd of="$archive" bs=1 seek=$((size / 2)) conv=notrunc status=none
  clb_thick_lv "$dst" 96 >/dev/null
  restore_code "$c" corrupt-archive "$bad/manifest.json" "/dev/$VG/$dst" CHECKSUM_MISMATCH
  leftovers_check "$c"
  # The target's own dm device stays, of course; its kpartx partition maps must not.
  local maps
  maps=$(dmsetup ls | awk -v lv="${VG//-/--}-${dst//-/--}" '$1 ~ ("^" lv "p?[0-9]+$") { print $1 }')
  if [ -n "$maps" ]; then
    result "$c" corrupt-no-maps FAIL "$maps"
  else
    result "$c" corrupt-no-maps PASS
  fi
  clb_thick_lv "$small" 64 >/dev/null
  restore_code "$c" too-small "$manifest" "/dev/$VG/$small" TARGET_TOO_SMALL
  clb_map "/dev/$VG/$dst" >/dev/null   # kpartx maps hold the target
  restore_code "$c" in-use "$manifest" "/dev/$VG/$dst" TARGET_IN_USE
  clb_unmap "/dev/$VG/$dst"
  # And after all that, the good backup still restores onto the same target.
  restore_code "$c" good-after-failures "$manifest" "/dev/$VG/$dst" ok
  check_restored "$c" "$dst" 1 1
  clb_unmap "/dev/$VG/$dst"
}

# The instance is the caller's: CLB_CT_SSH (USER@HOST[:PORT], e.g. root@10.0.2.100 through
# the forward), CLB_CT_KEY and CLB_CT_KNOWN_HOSTS (files readable here), CLB_CT_DEFAULTS (the
# MariaDB option file inside the instance) and CLB_CT_FREEZE (a mount point inside it). The
# dump comes back as /out/consistency-dump.sql for the caller to load and compare.
case_consistency() {
  local c=consistency src m dir v t
  for v in CLB_CT_SSH CLB_CT_KEY CLB_CT_KNOWN_HOSTS CLB_CT_DEFAULTS CLB_CT_FREEZE; do
    if [ -z "${!v:-}" ]; then
      result "$c" setup FAIL "$v is not set (the case needs an instance)"
      return 1
    fi
  done
  # The programs the steps run on this side of the SSH connection.
  for v in ssh thin_check; do
    if command -v "$v" >/dev/null; then result "$c" "tool-$v" PASS; else result "$c" "tool-$v" FAIL; fi
  done
  src=volume-$(clb_new_uuid)
  clb_log "consistency: source $src, instance $CLB_CT_SSH"
  clb_thick_lv "$src" 64 >/dev/null
  mkfs.ext4 -q -L db-volume "/dev/$VG/$src"
  # The window covers lvcreate, which takes seconds under TCG on a loaded machine: a bound
  # well above it, so that the guard's early thaw (which fails the step) cannot happen here.
  t=$(date +%s.%N)
  if ! "${CLI[@]}" backup --lv "$VG/$src" --dest "$DEST" --ssh "$CLB_CT_SSH" \
    --ssh-key "$CLB_CT_KEY" --known-hosts "$CLB_CT_KNOWN_HOSTS" \
    --mysqldump all --mysqldump-defaults "$CLB_CT_DEFAULTS" --freeze "$CLB_CT_FREEZE" \
    --freeze-bound 60 --json >"$WORK/$c-backup.json" 2>"$WORK/$c-backup.err"; then
    result "$c" backup FAIL "$(cat "$WORK/$c-backup.json" "$WORK/$c-backup.err" | tail -c 1500)"
    return 1
  fi
  echo "TIME $c backup $(clb_elapsed "$t")"
  m=$(jq -r .manifest "$WORK/$c-backup.json")
  dir=$(dirname "$m")
  result "$c" backup PASS "$m"
  v=$(jq -r '[.consistency, .consistencyReport.demanded, .consistencyReport.reached,
    (.consistencyReport.steps | map(.step + "=" + (.ok | tostring)) | join(","))] | join(" ")' "$m")
  if [ "$v" = "application application application mysqldump=true,fsfreeze=true" ]; then
    result "$c" manifest-application PASS
  else
    result "$c" manifest-application FAIL "$v"
  fi
  # The figures: the freeze window as the storage node saw it, the dump's size and rate.
  jq -r '"FIGURE consistency freeze-window-ms=\(.consistencyReport.freezeWindowMs)" +
    " dump-bytes=\(.dump.uncompressedBytes) stored=\(.dump.bytes) dump-ms=\(.dump.durationMs)" +
    " dump-MiB/s=\(if .dump.durationMs > 0 then (.dump.uncompressedBytes / 1048576 / (.dump.durationMs / 1000) * 100 | round / 100) else "n/a" end)"' "$m"
  if [ "$(jq -r .consistencyReport.freezeWindowMs "$m")" -gt 0 ] 2>/dev/null; then
    result "$c" freeze-window PASS
  else
    result "$c" freeze-window FAIL "$(jq -c .consistencyReport "$m")"
  fi
  # The dump is stored with its checksum in SHA256SUMS, and every listed file checks out.
  if [ -f "$dir/mysqldump.sql.zst" ] &&
    grep -qE "^$(jq -r .dump.sha256 "$m")  mysqldump\.sql\.zst\$" "$dir/SHA256SUMS" &&
    (cd "$dir" && sha256sum -c --quiet SHA256SUMS); then
    result "$c" dump-in-sha256sums PASS
  else
    result "$c" dump-in-sha256sums FAIL "$(ls "$dir"; cat "$dir/SHA256SUMS")"
  fi
  leftovers_check "$c"
  if "${CLI[@]}" restore --manifest "$m" --dump-to - >/out/consistency-dump.sql 2>"$WORK/$c-dump.err" &&
    tail -n 1 /out/consistency-dump.sql | grep -q '^-- Dump completed'; then
    result "$c" dump-to PASS "$(wc -c </out/consistency-dump.sql) bytes"
  else
    result "$c" dump-to FAIL "$(tail -c 600 "$WORK/$c-dump.err")"
  fi
}

clb_make_vg /dev/vda
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(gpt plain thin fsmix refuse)
for c in "${cases[@]}"; do
  t=$(date +%s.%N)
  # Each case in its own subshell with -e: one failing case must not hide the others.
  # (Not inside an `if`: bash ignores -e in a condition, subshells included.)
  (set -e; "case_$c")
  rc=$?
  [ "$rc" = 0 ] || result "$c" scenario FAIL "exit $rc"
  echo "TIME $c total $(clb_elapsed "$t")"
done
echo "ROUNDTRIP DONE"
