#!/usr/bin/env bash
# Installs the Debian packages the service and its tests need (idempotent; quick when all
# are present). The storage-node tests boot Debian's kernel under QEMU because the host
# kernel has no device-mapper (see test/storage-node/README.md).
set -euo pipefail
PACKAGES=(
  qemu-system-x86 linux-image-amd64 busybox-static socat   # the storage-node guest
  lvm2 kpartx fdisk util-linux                               # LVM, partitions (sfdisk)
  e2fsprogs xfsprogs btrfs-progs dosfstools                  # filesystems we back up and restore
  tar zstd acl attr                                          # archives, ACL/xattr test tools
  openssh-client openssh-server                              # ssh into instances; sshd as the test instance
  mariadb-client                                             # mysqldump/mysql in the consistency tests
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-system-deps: all ${#PACKAGES[@]} packages present"
