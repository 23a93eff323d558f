#!/usr/bin/env bash
# Installs the Debian packages the service and its tests need (idempotent; quick when all
# are present), then checks that every program the tests, the scenarios and the service
# call is on the PATH, and fails naming the missing ones. The storage-node tests boot
# Debian's kernel under QEMU because the host kernel has no device-mapper (see
# test/storage-node/README.md); the guest runs the host's own programs, so everything the
# guest scenarios call is installed here too.
#
# usage: install-system-deps.sh [--check]
#   --check   install nothing: list what is missing and exit 1 if anything is (any user)
set -euo pipefail
check_only=0
case ${1:-} in
  --check) check_only=1 ;;
  '') ;;
  *) echo "install-system-deps: unknown argument '$1' (--check)" >&2; exit 2 ;;
esac
PACKAGES=(
  qemu-system-x86 linux-image-amd64 busybox-static socat   # the storage-node guest
  cpio gzip xz-utils kmod                                    # its initramfs and modules
  lvm2 dmeventd kpartx fdisk util-linux                      # LVM, partitions (sfdisk)
  thin-provisioning-tools                                    # thin_check: LVM checks thin pools with it
  e2fsprogs xfsprogs btrfs-progs dosfstools                  # filesystems we back up and restore
  tar zstd acl attr                                          # archives, ACL/xattr test tools
  guestfish libguestfs-xfs                                   # isolation = appliance (libguestfs VM)
  openssh-client openssh-server                              # ssh into instances; sshd as the test instance
  coreutils findutils diffutils gawk sed grep procps iproute2 # scenarios (awk, diff, pgrep, ip)
  jq time openssl                                            # scenarios, bench, TLS test certs
  postgresql postgresql-client rabbitmq-server               # catalog and notification bus
  mariadb-server mariadb-client                              # mysqldump/mysql in the consistency tests
  systemd                                                    # systemd-analyze verify of deploy/systemd
)
# Programs called by name somewhere in test/, scripts/ or src/ (the package above that
# brings each is what this list checks).
TOOLS=(
  qemu-system-x86_64 busybox socat cpio gzip xz modprobe
  lvm lvs lvcreate lvremove lvchange vgs vgcreate pvcreate dmsetup dmeventd kpartx
  thin_check sfdisk partx losetup blkid wipefs blockdev mount umount flock setsid
  mkfs.ext4 mkfs.xfs mkfs.btrfs mkfs.vfat mkswap e2fsck
  tar zstd getfattr setfattr getfacl setfacl guestfish
  find xargs diff awk sed grep sha256sum truncate mkfifo pgrep ps ip
  jq /usr/bin/time openssl psql pg_isready pg_ctlcluster rabbitmqctl rabbitmq-server
  mariadb mariadbd mysqldump ssh sshd ssh-keygen systemd-analyze
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
absent=()
find_absent() {
  absent=()
  for t in "${TOOLS[@]}"; do
    if [[ $t == /* ]]; then
      [ -x "$t" ] || absent+=("$t")
    else
      PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null || absent+=("$t")
    fi
  done
}
if [ "$check_only" = 1 ]; then
  find_absent
  if [ ${#missing[@]} -gt 0 ] || [ ${#absent[@]} -gt 0 ]; then
    echo "install-system-deps: missing packages: ${missing[*]:-none}; programs: ${absent[*]:-none}" >&2
    exit 1
  fi
elif [ ${#missing[@]} -gt 0 ]; then
  echo "install-system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$check_only" = 0 ]; then
  find_absent
  if [ ${#absent[@]} -gt 0 ]; then
    echo "install-system-deps: still missing after install: ${absent[*]}" >&2
    exit 1
  fi
fi
echo "install-system-deps: all ${#PACKAGES[@]} packages present, ${#TOOLS[@]} programs found"
