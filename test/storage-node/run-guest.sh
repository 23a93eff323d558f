#!/usr/bin/env bash
# run-guest.sh: run a command inside a throw-away QEMU guest that is a Cinder LVM storage
# node: Debian's own kernel (device-mapper, dm-snapshot, dm-thin-pool as modules), the
# host's root filesystem as its root (9p, read-only, tmpfs overlay on top), sparse scratch
# disks as /dev/vda, /dev/vdb, ... The host's node, this project tree, lvm2 and kpartx run
# inside unchanged. See test/storage-node/README.md.
#
# usage: run-guest.sh [options] [--] COMMAND [ARG...]     (no COMMAND: interactive bash)
#   -d MIB        add a sparse scratch disk of MIB MiB (repeatable; default: one of 2048)
#   -m MIB        guest memory (default 1024)
#   -c N          guest CPUs (default 2)
#   -t SECONDS    wall-clock limit for the whole guest (default 900)
#   -e NAME=VALUE export NAME=VALUE inside the guest (repeatable)
#   -f GPORT:HPORT  forward guest 10.0.2.100:GPORT to host 127.0.0.1:HPORT (repeatable;
#                 QEMU user network with restrict=on: the guest reaches nothing else)
#   -o DIR        host directory shared read-write at /out (default: a per-run directory,
#                 removed at the end)
#   -C DIR        working directory inside the guest (default: the current directory)
#   -a ACCEL      auto (default) | kvm | tcg
#   -D            debug: a shell on the console when COMMAND fails
#   -v            show the kernel's boot messages
# Exit status: COMMAND's; 124 timeout; 125 the guest died without reporting; 126 setup error.
# State (initramfs cache, per-run directories) lives under $CLB_GUEST_STATE
# (default /tmp/clb-guest); each run's directory is removed when it ends.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${CLB_GUEST_STATE:-/tmp/clb-guest}
mem=1024 cpus=2 timeout_s=900 out_dir="" cwd=$PWD accel=${CLB_GUEST_ACCEL:-auto}
debug=0 verbose=0
disks_mib=() envs=() forwards=()

setup_error() {
  echo "run-guest: $*" >&2
  exit 126
}

while getopts "d:m:c:t:e:f:o:C:a:Dvh" opt; do
  case $opt in
    d) disks_mib+=("$OPTARG") ;;
    m) mem=$OPTARG ;;
    c) cpus=$OPTARG ;;
    t) timeout_s=$OPTARG ;;
    e) envs+=("$OPTARG") ;;
    f) forwards+=("$OPTARG") ;;
    o) out_dir=$OPTARG ;;
    C) cwd=$OPTARG ;;
    a) accel=$OPTARG ;;
    D) debug=1 ;;
    v) verbose=1 ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 126 ;;
  esac
done
shift $((OPTIND - 1))
[ ${#disks_mib[@]} -gt 0 ] || disks_mib=(2048)

# ------------------------------------------------------------------ prerequisites
install_hint="run scripts/install-system-deps.sh (as root) to install them"
command -v qemu-system-x86_64 >/dev/null || setup_error "qemu-system-x86_64 is missing; $install_hint"
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
[ -n "$kernel" ] && [ -r "$kernel" ] || setup_error "no readable /boot/vmlinuz-*; $install_hint"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || setup_error "no modules for kernel $kver in $moddir; $install_hint"
busybox=${CLB_GUEST_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || setup_error "$busybox is missing (busybox-static); $install_hint"
for tool in lvm kpartx sfdisk mkfs.xfs; do
  command -v "$tool" >/dev/null || setup_error "$tool is missing; $install_hint"
done
if [ ${#forwards[@]} -gt 0 ]; then
  command -v socat >/dev/null || setup_error "socat is missing (needed for -f); $install_hint"
fi

if [ "$accel" = auto ]; then
  # /dev/kvm on these machines is KVM-PVM: a stock Debian kernel does not boot under it.
  # Hardware KVM only when kvm_intel or kvm_amd is loaded.
  if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
    accel=kvm
  else
    accel=tcg
  fi
fi
case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg,thread=multi,tb-size=512 -cpu max) ;;
  *) setup_error "unknown accelerator '$accel' (auto, kvm or tcg)" ;;
esac

# ------------------------------------------------------------------ initramfs (cached)
# Only what reaching the host root needs; everything else is modprobed later over 9p.
initramfs_modules=(virtio_pci virtio_blk 9pnet_virtio 9p overlay)
mkdir -p "$state/build" "$state/runs"
fingerprint=$(cat "$here/guest-init.sh" "$busybox" <(echo "$kver ${initramfs_modules[*]}") \
  | sha256sum | cut -c1-16)
initramfs=$state/build/initramfs-$kver-$fingerprint.cpio.gz

# Prints the module files (relative to $moddir) for the wanted modules, dependencies first.
module_load_order() {
  declare -A listed=()
  local name line file deps i
  for name in "${initramfs_modules[@]}"; do
    line=$(grep -E "/${name}\.ko(\.xz|\.gz|\.zst)?:" "$moddir/modules.dep" || true)
    if [ -z "$line" ]; then
      grep -qE "/${name}\.ko" "$moddir/modules.builtin" && continue
      setup_error "kernel module $name not found for $kver"
    fi
    file=${line%%:*}
    read -r -a deps <<<"${line#*:}"
    # modules.dep lists the deepest dependency last: load in reverse.
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
      [ -n "${listed[${deps[i]}]:-}" ] || { listed[${deps[i]}]=1; echo "${deps[i]}"; }
    done
    [ -n "${listed[$file]:-}" ] || { listed[$file]=1; echo "$file"; }
  done
}

build_initramfs() {
  local tree file base
  tree=$(mktemp -d "$state/build/tree.XXXXXX")
  mkdir -p "$tree"/{bin,dev,proc,sys,mnt,lib/modules}
  cp "$busybox" "$tree/bin/busybox"
  install -m 755 "$here/guest-init.sh" "$tree/init"
  : >"$tree/modules.order"
  while read -r file; do
    base=$(basename "$file")
    base=${base%.xz} base=${base%.gz} base=${base%.zst}
    case $file in
      *.xz) xz -dc "$moddir/$file" >"$tree/lib/modules/$base" ;;
      *.gz) gzip -dc "$moddir/$file" >"$tree/lib/modules/$base" ;;
      *.zst) zstd -qdc "$moddir/$file" >"$tree/lib/modules/$base" ;;
      *) cp "$moddir/$file" "$tree/lib/modules/$base" ;;
    esac
    echo "$base" >>"$tree/modules.order"
  done < <(module_load_order)
  (cd "$tree" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$initramfs.tmp.$$"
  mv "$initramfs.tmp.$$" "$initramfs"
  rm -rf "$tree"
}
if [ ! -s "$initramfs" ]; then
  # Several guests may start at once: one builds, the others wait for it.
  (
    flock 9
    [ -s "$initramfs" ] || build_initramfs
  ) 9>"$state/build/.lock"
fi

# ------------------------------------------------------------------ per-run state
run=$(mktemp -d "$state/runs/run.XXXXXX")
qemu_pid=""
cleanup() {
  [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [ -z "$out_dir" ]; then out_dir=$run/out; fi
mkdir -p "$run/ctl" "$out_dir"
disk_args=()
n=0
for size in "${disks_mib[@]}"; do
  [[ $size =~ ^[0-9]+$ ]] || setup_error "disk size '$size' is not a number of MiB"
  n=$((n + 1))
  truncate -s "${size}M" "$run/disk$n.img"
  disk_args+=(-drive "file=$run/disk$n.img,if=virtio,format=raw,cache=unsafe,discard=unmap,aio=threads")
done

cp "$here/guest-stage2.sh" "$run/ctl/stage2.sh"
{
  printf 'CLB_DEBUG=%s\n' "$debug"
  printf 'CLB_NET=%s\n' "$([ ${#forwards[@]} -gt 0 ] && echo 1 || echo 0)"
  printf 'CLB_EXTRA_MODULES=%q\n' "${CLB_GUEST_MODULES:-}"
} >"$run/ctl/config"
{
  echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  term=dumb
  [ -t 0 ] && term=${TERM:-dumb}
  echo "export HOME=/root TERM=$term LANG=C.UTF-8 CLB_GUEST=1 DM_DISABLE_UDEV=1"
  # LVM warns about every inherited descriptor ("File descriptor N leaked").
  echo "export LVM_SUPPRESS_FD_WARNINGS=1"
  for e in "${envs[@]+"${envs[@]}"}"; do
    [[ $e == *=* ]] || setup_error "-e wants NAME=VALUE, got '$e'"
    printf 'export %q=%q\n' "${e%%=*}" "${e#*=}"
  done
  printf 'cd %q 2>/dev/null || cd /\n' "$cwd"
  if [ $# -gt 0 ]; then
    printf 'exec'
    printf ' %q' "$@"
    echo
  else
    echo 'exec /bin/bash -i'
  fi
} >"$run/ctl/cmd"

append="console=ttyS0 panic=-1 rdinit=/init clbguest.debug=$debug"
append+=" i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd tsc=reliable no_timer_check"
append+=" mitigations=off random.trust_cpu=on nowatchdog"
if [ "$verbose" = 1 ]; then append+=" loglevel=7"; else append+=" quiet loglevel=3"; fi

net_args=()
if [ ${#forwards[@]} -gt 0 ]; then
  netdev="user,id=n0,restrict=on,net=10.0.2.0/24"
  for fwd in "${forwards[@]}"; do
    [[ $fwd =~ ^([0-9]+):([0-9]+)$ ]] || setup_error "-f wants GUESTPORT:HOSTPORT, got '$fwd'"
    # A fresh socat per connection, to the host's loopback only.
    netdev+=",guestfwd=tcp:10.0.2.100:${BASH_REMATCH[1]}-cmd:socat STDIO TCP:127.0.0.1:${BASH_REMATCH[2]}"
  done
  net_args=(-netdev "$netdev" -device virtio-net-pci,netdev=n0)
fi

qemu=(qemu-system-x86_64 -M pc "${accel_args[@]}" -smp "$cpus" -m "$mem"
  -nodefaults -no-user-config -no-reboot -display none -vga none
  -chardev stdio,id=con,signal=on -serial chardev:con -monitor none
  -kernel "$kernel" -initrd "$initramfs" -append "$append"
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
  -virtfs "local,path=$run/ctl,mount_tag=ctl,security_model=none"
  -virtfs "local,path=$out_dir,mount_tag=out,security_model=none"
  -device virtio-rng-pci
  "${disk_args[@]}" "${net_args[@]+"${net_args[@]}"}")
[ "$verbose" = 1 ] && echo "run-guest: ${qemu[*]}" >&2

started=$(date +%s.%N)
set +e
if [ -t 0 ]; then
  timeout --foreground "$timeout_s" "${qemu[@]}"
  qemu_rc=$?
else
  # In the background so that a TERM to this script reaches the trap (and kills QEMU) at once.
  timeout "$timeout_s" "${qemu[@]}" </dev/null &
  qemu_pid=$!
  wait "$qemu_pid"
  qemu_rc=$?
  qemu_pid=""
fi
set -e
if [ -n "${CLB_GUEST_TIMES:-}" ] && [ -s "$run/ctl/ready-uptime" ]; then
  echo "run-guest: accel=$accel, guest ready after $(cat "$run/ctl/ready-uptime") s of uptime," \
    "wall $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
fi
if [ -s "$run/ctl/rc" ]; then exit "$(cat "$run/ctl/rc")"; fi
if [ "$qemu_rc" = 124 ]; then
  echo "run-guest: timed out after ${timeout_s} s" >&2
  exit 124
fi
echo "run-guest: the guest stopped (qemu exit $qemu_rc) without reporting a status" >&2
exit 125
