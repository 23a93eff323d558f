#!/usr/bin/env bash
# Shell functions shared by the storage-node guest scenarios (source it inside the guest):
#   - build a Cinder-style `cinder-volumes` VG and volumes (GPT with ext4 + xfs + raw,
#     no partition table, thin), full of awkward files;
#   - an INDEPENDENT description of a filesystem tree and of partitions (find, sha256sum,
#     getfattr, getfacl, blkid), to compare an original with its restored copy. It shares
#     no code with the engine on purpose: a bug there must not hide itself here.
# Functions print progress as "== ..." lines and fail (non-zero) on any error.

VG=${VG:-cinder-volumes}
export LC_ALL=C
export LVM_SUPPRESS_FD_WARNINGS=1

clb_log() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# A fresh Cinder-style volume id; ends in a letter or digit at random, which exercises
# kpartx's naming rule (a 'p' before the partition number only after a digit).
clb_new_uuid() { cat /proc/sys/kernel/random/uuid; }

# clb_make_vg DISK...: the Cinder LVM volume group.
clb_make_vg() {
  pvcreate -q -y "$@" >/dev/null
  vgcreate -q "$VG" "$@" >/dev/null
  clb_log "VG $VG on $*"
}

# clb_thick_lv NAME MIB: a thick LV; prints its device path.
clb_thick_lv() {
  lvcreate -q -y -L "${2}M" -n "$1" "$VG" >/dev/null
  echo "/dev/$VG/$1"
}

# clb_thin_pool NAME MIB, then clb_thin_lv NAME MIB POOL: Cinder's lvm_type=thin.
clb_thin_pool() { lvcreate -q -y -L "${2}M" -T "$VG/$1" >/dev/null; }
clb_thin_lv() {
  lvcreate -q -y -V "${2}M" -T "$VG/$3" -n "$1" >/dev/null
  echo "/dev/$VG/$1"
}

# clb_gpt_layout DEV: GPT with
#   1: ext4 data ("data", 200 MiB), 2: xfs ("logs", 320 MiB: mkfs.xfs wants >= 300 MB),
#   3: a BIOS boot partition holding random bytes and no filesystem (8 MiB).
# Fixed disk and partition UUIDs so that a restore can be checked against them.
clb_gpt_layout() {
  sfdisk -q --no-reread --no-tell-kernel "$1" >/dev/null <<'TABLE'
label: gpt
label-id: 5B0C1D2E-3F40-4A5B-8C6D-7E8F90A1B2C3
first-lba: 2048
start=2048, size=200MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555501, name="data"
size=320MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555502, name="logs"
size=8MiB, type=21686148-6449-6E6F-744E-656564454649, uuid=11111111-2222-4333-8444-555555555503, name="bios boot"
TABLE
  [ "$(sfdisk -d "$1" | grep -c 'start=')" = 3 ] || { echo "partitioning $1 failed" >&2; return 1; }
}

# clb_map DEV: maps the partitions of a dm device (kpartx -avs); prints the map paths in
# partition order.
clb_map() {
  kpartx -avs "$1" | awk '$1 == "add" && $2 == "map" { print "/dev/mapper/" $3 }'
}
clb_unmap() { kpartx -ds "$1" >/dev/null; }

# clb_populate DIR [SCALE]: an awkward tree. SCALE (default 1) multiplies the bulk files.
clb_populate() {
  local d=$1 scale=${2:-1} i
  (
    set -euo pipefail
    cd "$d"
    mkdir -p plain "spaced dir/inner dir" unicode links modes owners attrs sparse bulk empty-dir
    # regular, empty, text and binary files
    printf 'hello\n' >plain/hello.txt
    : >plain/empty
    head -c 100000 /dev/urandom >plain/random.bin
    seq 1 20000 >plain/numbers.txt
    printf 'x' >"plain/ leading space"
    printf 'y' >"plain/trailing space "
    printf 'q' >"plain/it's \"quoted\""
    printf 'b' >'plain/back\slash'
    printf 's' >'plain/star*and?glob[1]'
    printf 'd' >plain/-dash-first
    printf 'z' >"spaced dir/inner dir/file with  two  spaces.txt"
    # unicode names (NFC and NFD forms of the same word are different names)
    printf 'u1' >"unicode/ünïcödé-日本語.txt"
    printf 'u2' >"unicode/emoji-🙂-ok"
    printf 'u3' >"unicode/$(printf 'cafe\xcc\x81')"
    printf 'u4' >"unicode/$(printf 'caf\xc3\xa9')"
    # a 255-byte name and a deep tree
    printf 'long' >"plain/$(printf 'n%.0s' $(seq 1 255))"
    local deep=deep
    for i in $(seq 1 40); do deep="$deep/level-$i"; done
    mkdir -p "$deep"
    printf 'bottom\n' >"$deep/bottom.txt"
    # hard links (a group of three across directories), symlinks of every kind
    printf 'shared\n' >links/original
    ln links/original links/hardlink-a
    ln links/original "spaced dir/hardlink b"
    ln -s original links/relative-symlink
    ln -s /etc/hostname links/absolute-symlink
    ln -s does-not-exist links/dangling-symlink
    ln -s ../plain links/dir-symlink
    ln -s "../unicode/ünïcödé-日本語.txt" links/unicode-target
    mkfifo links/a-fifo
    # modes: setuid, setgid, sticky, nothing at all
    printf '#!/bin/sh\n' >modes/setuid && chmod 4755 modes/setuid
    printf 'g' >modes/setgid && chmod 2750 modes/setgid
    mkdir modes/sticky && chmod 1777 modes/sticky
    mkdir modes/setgid-dir && chmod 2775 modes/setgid-dir
    printf 'none' >modes/zero && chmod 0000 modes/zero
    printf 'ro' >modes/readonly && chmod 0444 modes/readonly
    mkdir modes/closed-dir && printf 'in' >modes/closed-dir/inside && chmod 0700 modes/closed-dir
    # owners that exist nowhere (numeric only)
    printf 'o1' >owners/u4242 && chown 4242:4343 owners/u4242
    printf 'o2' >owners/u60001 && chown 60001:60002 owners/u60001
    mkdir owners/dir-123 && chown 123:456 owners/dir-123
    ln -s u4242 owners/link-owned && chown -h 777:888 owners/link-owned
    printf 'o3' >owners/setuid-other && chown 4242:0 owners/setuid-other && chmod 4711 owners/setuid-other
    # extended attributes and POSIX ACLs
    printf 'a' >attrs/with-xattrs
    setfattr -n user.comment -v "a comment with spaces" attrs/with-xattrs
    setfattr -n user.binary -v 0x00ff10ee attrs/with-xattrs
    setfattr -n user.empty attrs/with-xattrs
    setfattr -n trusted.service -v cinder attrs/with-xattrs
    mkdir attrs/dir-xattr && setfattr -n user.dir -v yes attrs/dir-xattr
    printf 'acl' >attrs/with-acl
    setfacl -m u:4242:rwx,g:5000:r,m:rwx attrs/with-acl
    mkdir attrs/default-acl-dir
    setfacl -m u:4242:rx attrs/default-acl-dir
    setfacl -d -m u:4242:rwx,g:4343:rx attrs/default-acl-dir
    printf 'inherits' >attrs/default-acl-dir/child
    printf 'both' >attrs/acl-and-xattr
    setfacl -m u:60001:r attrs/acl-and-xattr
    setfattr -n user.k -v v attrs/acl-and-xattr
    # sparse files: holes at the start, in the middle and at the end
    truncate -s 64M sparse/hole-only
    printf 'middle' | dd of=sparse/data-in-middle bs=1 seek=$((32 << 20)) conv=notrunc status=none
    truncate -s 48M sparse/data-in-middle
    head -c 4096 /dev/urandom | dd of=sparse/data-at-start conv=notrunc status=none
    truncate -s 40M sparse/data-at-start
    # bulk: many small files and some larger ones
    for i in $(seq 1 $((150 * scale))); do printf 'file %d\n' "$i" >"bulk/small-$i.txt"; done
    for i in $(seq 1 $((3 * scale))); do head -c $((i * 300000)) /dev/urandom >"bulk/big-$i.bin"; done
    # timestamps from the past, on a file and a directory
    touch -d '2001-02-03 04:05:06.789' plain/hello.txt
    touch -d '1999-12-31 23:59:59' "spaced dir"
  )
}

# clb_walk DIR: a canonical, sorted description of a tree: for every entry its path, type,
# mode, owner, size (files and links), link target, mtime (seconds; not for symlinks);
# (awk rather than grep -v as filters: grep fails on empty output, e.g. vfat has no xattrs)
# hard-link groups; sha256 of every regular file; every xattr (hex); every ACL; and for
# files of 1 MiB or more whether they are sparse. lost+found is left out (tar skips it).
clb_walk() {
  (
    set -euo pipefail
    cd "$1"
    echo "# entries"
    find . -path ./lost+found -prune -o -printf '%y\t%p\t%#m\t%U:%G\t%s\t%l\t%T@\n' \
      | awk -F'\t' -v OFS='\t' '{
          if ($1 == "d") $5 = "-";          # directory sizes depend on the filesystem
          if ($1 == "l") $7 = "-"; else sub(/\..*/, "", $7)
          print }' \
      | sort
    echo "# hard-link groups"
    find . -path ./lost+found -prune -o -type f -links +1 -printf '%i\t%p\n' \
      | sort -k2 | awk -F'\t' '{ g[$1] = (g[$1] == "" ? $2 : g[$1] " = " $2) } END { for (i in g) print g[i] }' \
      | sort
    echo "# contents"
    find . -path ./lost+found -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum
    echo "# sparse files"
    find . -path ./lost+found -prune -o -type f -size +1M -printf '%p\t%s\t%S\n' \
      | awk -F'\t' '{ print $1, ($3 < 0.5 ? "sparse" : "dense") }' | sort
    echo "# xattrs"
    getfattr -R -P -h -d -m - -e hex . 2>/dev/null \
      | awk '/^# file: / { f = substr($0, 9); next } NF { print f "\t" $0 }' \
      | awk -F'\t' '$1 !~ /^\.\/lost\+found/' | sort
    echo "# acls"
    getfacl -R -P -n . 2>/dev/null \
      | awk '/^# file: / { f = substr($0, 9); next } NF { print f "\t" $0 }' \
      | awk -F'\t' '$1 !~ /^lost\+found/' | sort
  )
}

# clb_identity DEV: filesystem and partition identity as blkid probes it (no cache).
clb_identity() {
  blkid -p -o export "$1" | grep -E '^(TYPE|UUID|LABEL|PART_ENTRY_(UUID|TYPE|NAME|NUMBER|OFFSET|SIZE))=' | sort
}

# clb_table DEV: the partition table with the device names, last-lba and the disk-size
# dependent lines taken out, so a table on a larger disk compares equal.
clb_table() {
  sfdisk -d "$1" | sed -E 's|^[^ ]*[^0-9]([0-9]+) :|p\1 :|' | grep -vE '^(device|last-lba):'
}

# clb_compare NAME A B: diffs two descriptions; prints "SAME NAME" or the diff and fails.
clb_compare() {
  if diff -u "$2" "$3" >"$2.diff"; then
    echo "SAME $1"
  else
    echo "DIFFERENT $1:"
    head -60 "$2.diff"
    return 1
  fi
}

# clb_mount_ro DEV DIR: read-only mount of either of two twins (xfs refuses a second
# filesystem with the same UUID unless told nouuid).
clb_mount_ro() {
  mkdir -p "$2"
  if [ "$(blkid -p -s TYPE -o value "$1")" = xfs ]; then
    mount -o ro,nouuid "$1" "$2"
  else
    mount -o ro "$1" "$2"
  fi
}

# clb_dos_layout DEV: an MBR table: 1: 200 MiB (ext4), 2: 320 MiB (xfs), fixed disk id.
clb_dos_layout() {
  sfdisk -q --no-reread --no-tell-kernel "$1" >/dev/null <<'TABLE'
label: dos
label-id: 0x1badcafe
start=2048, size=200MiB, type=83, bootable
size=320MiB, type=83
TABLE
  [ "$(sfdisk -d "$1" | grep -c 'start=')" = 2 ] || { echo "partitioning $1 failed" >&2; return 1; }
}

# clb_leftovers: what a backup or restore could have left behind (snapshots of ours, maps
# of them, mounts under the run directory in any process's mount namespace: backups mount
# in a private one); prints nothing when the node is clean.
clb_leftovers() {
  lvs --noheadings -o lv_name,lv_tags "$VG" 2>/dev/null | awk '$1 ~ /^clb-/ || $2 ~ /cinder_lvm_backup/ { print "lv:", $1 }'
  dmsetup ls 2>/dev/null | awk '$1 ~ /clb--/ { print "map:", $1 }'
  clb_run_mounts | sort -u | sed 's/^/mount: /'
}

# clb_run_mounts: mount points under the run directory, seen from every mount namespace.
clb_run_mounts() {
  cat /proc/[0-9]*/mounts 2>/dev/null |
    awk -v d="${CLB_RUN_DIR:-/run/cinder-lvm-backup}" 'index($2, d) == 1 { print $2 }'
}

# clb_elapsed START: seconds since START (a `date +%s.%N` value), one decimal.
clb_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
