#!/bin/sh
# Stage 2 of the storage-node guest: PID 1 inside the overlay root, run by the host's /bin/sh.
# Sets the guest up as a Cinder LVM storage node without udev, runs the command from
# /run/clb-guest/cmd on the serial console, records its exit status in
# /run/clb-guest/rc and powers off. Settings come from /run/clb-guest/config.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ctl=/run/clb-guest
. "$ctl/config"

mkdir -p /dev/pts /dev/shm /out /run/lock /run/lvm /etc/lvm/archive /etc/lvm/backup
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out \
  || echo "guest: no /out share" >/dev/console
# devtmpfs has no /dev/fd: bash process substitution needs it.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
# The host's mtab, hostname and LVM metadata archives must not leak into the guest.
rm -f /etc/mtab && ln -s /proc/self/mounts /etc/mtab
hostname storage-node
rm -rf /etc/lvm/archive/* /etc/lvm/backup/* 2>/dev/null

# Same kernel as the host: its modules are read over 9p by the host's own kmod.
modprobe -a dm-mod dm-snapshot dm-thin-pool loop ext4 xfs btrfs vfat $CLB_EXTRA_MODULES \
  || echo "guest: warning: loading storage modules failed" >/dev/console

# Without udev, lvcreate fails ("not found: device not cleared") unless LVM stops waiting
# for udev and makes the /dev nodes itself.
sed -i 's/^activation {/activation {\n\tudev_sync = 0\n\tudev_rules = 0\n\tverify_udev_operations = 1/' \
  /etc/lvm/lvm.conf
export DM_DISABLE_UDEV=1

if [ "$CLB_NET" = 1 ]; then
  # Restricted user network: the guest reaches only the host forwards at 10.0.2.100.
  modprobe virtio_net
  ip link set lo up
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2 dev eth0 2>/dev/null
fi

cut -d' ' -f1 /proc/uptime >"$ctl/ready-uptime"
shell=/bin/sh
[ -x /bin/bash ] && shell=/bin/bash
$shell "$ctl/cmd" </dev/console >/dev/console 2>&1
rc=$?
echo "$rc" >"$ctl/rc"
sync
if [ "$CLB_DEBUG" = 1 ] && [ "$rc" != 0 ]; then
  echo "guest: command exited with $rc; debug shell (exit to power off)" >/dev/console
  setsid -c /bin/bash -i </dev/console >/dev/console 2>&1
fi
echo 0 >/proc/sys/kernel/printk
umount /out 2>/dev/null
umount "$ctl" 2>/dev/null
/bin/busybox poweroff -f
# Fallback when busybox is missing: magic SysRq power-off.
echo 1 >/proc/sys/kernel/sysrq
echo o >/proc/sysrq-trigger
sleep 10
