#!/bin/busybox sh
# PID 1 of the storage-node guest's initramfs (busybox only). Built into the initramfs by
# run-guest.sh. Its one job is to reach the host's root filesystem and hand over:
#   host / over 9p (read-only) + tmpfs upper layer -> overlayfs -> switch_root.
# Stage 2 (guest-stage2.sh, copied into the per-run control share) then runs with the
# host's own /bin/sh, modprobe and LVM. switch_root rather than chroot because
# `udevadm settle` and friends refuse to work inside a chroot.
/bin/busybox mkdir -p /bin /proc /sys /dev /mnt
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

debug=0
upper_size=50%
for word in $(cat /proc/cmdline); do
  case "$word" in
    clbguest.debug=*) debug=${word#*=} ;;
    clbguest.tmpfs=*) upper_size=${word#*=} ;;
  esac
done

fatal() {
  echo "guest-init: FATAL: $*" >/dev/console
  [ "$debug" = 1 ] && setsid cttyhack sh
  poweroff -f
}

# Modules in dependency order, as run-guest.sh resolved them from modules.dep.
while read -r module; do
  insmod "/lib/modules/$module" || fatal "insmod $module failed"
done </modules.order

mkdir -p /mnt/host /mnt/upper /mnt/root
# cache=loose: the host root is treated as unchanging while the guest lives, which makes
# executing and mmapping host binaries fast. msize: fewer 9p round trips.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /mnt/host \
  || fatal "cannot mount the host root (9p tag hostroot)"
mount -t tmpfs -o "size=$upper_size,mode=755" upper /mnt/upper
mkdir -p /mnt/upper/data /mnt/upper/work
mount -t overlay overlay \
  -o lowerdir=/mnt/host,upperdir=/mnt/upper/data,workdir=/mnt/upper/work /mnt/root \
  || fatal "cannot mount the overlay root"

root=/mnt/root
mount --move /proc "$root/proc"
mount --move /sys "$root/sys"
mount --move /dev "$root/dev"
# /run must be the guest's own (LVM locks, /run/lvm); /tmp stays the host's, copy-on-write.
mount -t tmpfs -o mode=755 run "$root/run"
mkdir -p "$root/run/clb-guest"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ctl "$root/run/clb-guest" \
  || fatal "cannot mount the control share (9p tag ctl)"

exec switch_root "$root" /bin/sh /run/clb-guest/stage2.sh
