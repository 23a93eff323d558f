/**
 * The few fields of a btrfs superblock (the primary copy, 64 KiB into the device) that
 * decide whether we may mount it: its fsid, how many devices the filesystem spans and
 * which of them this one is. Layout: struct btrfs_super_block in the kernel's
 * include/uapi/linux/btrfs_tree.h (fsid at 0x20, magic at 0x40, num_devices at 0x88,
 * dev_item.devid at 0xc9). Pure.
 */

/** Where the primary superblock starts, and how much of it we read. */
export const BTRFS_SUPER_OFFSET = 64 * 1024;
export const BTRFS_SUPER_READ = 4096;

const MAGIC = '_BHRfS_M';

export interface BtrfsSuper {
  /** The filesystem's UUID as blkid prints it (lower case). */
  fsid: string;
  numDevices: number;
  devid: number;
  generation: number;
}

function uuidOf(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Reads the superblock fields from the bytes at BTRFS_SUPER_OFFSET; null without the magic. */
export function parseBtrfsSuper(block: Buffer): BtrfsSuper | null {
  if (block.length < 0xd1) return null;
  if (block.subarray(0x40, 0x48).toString('latin1') !== MAGIC) return null;
  return {
    fsid: uuidOf(block.subarray(0x20, 0x30)),
    generation: Number(block.readBigUInt64LE(0x48)),
    numDevices: Number(block.readBigUInt64LE(0x88)),
    devid: Number(block.readBigUInt64LE(0xc9)),
  };
}

/**
 * Why a btrfs must not be mounted from this one device, or null. Only a filesystem that
 * lives wholly on the partition is ours to read: one that spans devices would be completed
 * by the kernel from whatever it has registered with the same fsid, which on a storage node
 * can be another tenant's volume made from the same image.
 */
export function btrfsSuperRefusal(sb: BtrfsSuper | null): string | null {
  if (sb === null) return 'btrfs: no superblock at 64 KiB';
  if (sb.numDevices !== 1) {
    return `btrfs ${sb.fsid} spans ${sb.numDevices} devices; only this partition is the volume's own`;
  }
  return null;
}
