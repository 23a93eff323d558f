#!/usr/bin/env bash
# The demo's storage-node part, run INSIDE the guest by run-demo.sh (disk /dev/vda):
# a Cinder `cinder-volumes` VG, a partitioned volume full of data, backup (progress bar),
# verify, restore to a second volume, an independent comparison, and a summary.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../storage-node/scenarios/lib.sh
. "$PROJECT/test/storage-node/scenarios/lib.sh"
CLI=(node "$PROJECT/dist/cli.js")
DEST=/out/backups
WORK=$(mktemp -d /tmp/demo.XXXXXX)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

say "1/6 storage node: volume group $VG on /dev/vda"
clb_make_vg /dev/vda
SRC=volume-$(clb_new_uuid)
DST=volume-$(clb_new_uuid)

say "2/6 a Cinder volume $SRC (1200 MiB, GPT: BIOS boot + ext4 root + xfs data), filling it"
clb_thick_lv "$SRC" 1200 >/dev/null
sfdisk -q --no-reread --no-tell-kernel "/dev/$VG/$SRC" >/dev/null <<'TABLE'
label: gpt
start=2048, size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name="bios"
size=700MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
size=450MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
TABLE
mapfile -t P < <(clb_map "/dev/$VG/$SRC")
head -c 1M /dev/urandom >"${P[0]}"   # stands in for a boot loader: kept as a raw image
mkfs.ext4 -q -L root "${P[1]}"
mkfs.xfs -q -L data "${P[2]}"
mkdir -p "$WORK/root" "$WORK/data"
mount "${P[1]}" "$WORK/root"
mount "${P[2]}" "$WORK/data"
t=$(date +%s.%N)
# root: a system's worth of files: scripts and modules, time zones, large shared libraries.
# (Few hundred thousand tiny files would be realistic too, but every file costs syscalls,
# which QEMU's emulation makes slow: a demo should finish in minutes.)
mkdir -p "$WORK/root/usr/share" "$WORK/root/usr/lib"
cp -a /usr/share/perl /usr/share/zoneinfo "$WORK/root/usr/share/"
for lib in /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1 /usr/lib/x86_64-linux-gnu/libicudata.so.72.1; do
  [ -f "$lib" ] && cp "$lib" "$WORK/root/usr/lib/"
done
clb_populate "$WORK/root"          # plus the awkward cases: xattrs, ACLs, links, owners, holes
# data: database-like binary files, logs, a sparse disk image
mkdir -p "$WORK/data/db" "$WORK/data/log" "$WORK/data/images"
for i in 1 2 3 4; do head -c 16M /dev/urandom >"$WORK/data/db/table-$i.ibd"; done
for i in 1 2 3 4; do seq -f "%.0f request served in 12 ms from 10.0.0.$i" 1 400000 >"$WORK/data/log/access-$i.log"; done
truncate -s 2G "$WORK/data/images/disk.img"
head -c 8M /dev/urandom | dd of="$WORK/data/images/disk.img" bs=1M seek=1000 conv=notrunc status=none
clb_populate "$WORK/data"
echo "filled in $(clb_elapsed "$t") s:"
df -h "$WORK/root" "$WORK/data" | sed 's/^/  /'
for fs in root data; do clb_walk "$WORK/$fs" >"$WORK/$fs.before"; done
umount "$WORK/root" "$WORK/data"
for i in 0 1 2; do clb_identity "${P[$i]}" >"$WORK/id$i.before"; done
clb_table "/dev/$VG/$SRC" >"$WORK/table.before"
clb_unmap "/dev/$VG/$SRC"

say "3/6 backup --lv $VG/$SRC (snapshot, kpartx, read-only mounts, tar | zstd | sha256)"
t=$(date +%s.%N)
"${CLI[@]}" backup --lv "$VG/$SRC" --dest "$DEST"
BACKUP_S=$(clb_elapsed "$t")
MANIFEST=$(ls -d "$DEST/$SRC"/*/manifest.json | tail -1)
echo "manifest: $MANIFEST"

say "4/6 verify (checksums and readability of every archive, no restore)"
t=$(date +%s.%N)
"${CLI[@]}" verify --manifest "$MANIFEST"
VERIFY_S=$(clb_elapsed "$t")

say "5/6 restore onto a second volume $DST"
clb_thick_lv "$DST" 1200 >/dev/null
t=$(date +%s.%N)
"${CLI[@]}" restore --manifest "$MANIFEST" --target "/dev/$VG/$DST"
RESTORE_S=$(clb_elapsed "$t")

say "6/6 compare the restored volume with the original (independent walk: find, sha256sum, getfattr, getfacl, blkid, sfdisk)"
failed=0
clb_table "/dev/$VG/$DST" >"$WORK/table.after"
clb_compare "partition table" "$WORK/table.before" "$WORK/table.after" || failed=1
mapfile -t Q < <(clb_map "/dev/$VG/$DST")
for i in 0 1 2; do
  clb_identity "${Q[$i]}" >"$WORK/id$i.after"
  clb_compare "identity of partition $((i + 1))" "$WORK/id$i.before" "$WORK/id$i.after" || failed=1
done
mapfile -t P < <(clb_map "/dev/$VG/$SRC")
if cmp -s "${P[0]}" "${Q[0]}"; then echo "SAME raw partition 1"; else echo "DIFFERENT raw partition 1"; failed=1; fi
clb_mount_ro "${Q[1]}" "$WORK/root"
clb_mount_ro "${Q[2]}" "$WORK/data"
for fs in root data; do
  clb_walk "$WORK/$fs" >"$WORK/$fs.after"
  clb_compare "tree of $fs ($(grep -c . "$WORK/$fs.after") lines of description)" "$WORK/$fs.before" "$WORK/$fs.after" || failed=1
done
umount "$WORK/root" "$WORK/data"
clb_unmap "/dev/$VG/$DST"
clb_unmap "/dev/$VG/$SRC"
left=$(clb_leftovers)
if [ -z "$left" ]; then echo "SAME nothing left behind (no snapshot, map or mount of ours)"; else echo "LEFT: $left"; failed=1; fi

used=$(jq '[.partitions[] | .usedBytes // 0] | add' "$MANIFEST")
archived=$(jq '.totals.archivedBytes' "$MANIFEST")
stored=$(jq '.totals.storedBytes' "$MANIFEST")
files=$(jq '.totals.fileCount' "$MANIFEST")
say "summary"
cat <<SUMMARY
  volume            $VG/$SRC, $(mib $((1200 * 1048576))) (GPT: raw bios, ext4 root, xfs data)
  in use            $(mib "$used") in $files inodes; tar streams $(mib "$archived")
  stored            $(mib "$stored") (zstd), ratio $(awk -v a="$archived" -v s="$stored" 'BEGIN { printf "%.2f", a / s }')
  backup            $BACKUP_S s  ($(awk -v b="$archived" -v t="$BACKUP_S" 'BEGIN { printf "%.1f", b / 1048576 / t }') MiB/s of tar stream, snapshot to cleanup)
  verify            $VERIFY_S s
  restore           $RESTORE_S s  ($(awk -v b="$archived" -v t="$RESTORE_S" 'BEGIN { printf "%.1f", b / 1048576 / t }') MiB/s)
  comparison        $([ "$failed" = 0 ] && echo "identical: table, UUIDs, labels, trees, owners, modes, xattrs, ACLs, links, holes, raw bytes" || echo "DIFFERENCES FOUND (see above)")
  backup kept in    ${MANIFEST#/out/}
  (times are inside a TCG-emulated guest: several times slower than a real storage node)
SUMMARY
exit "$failed"
