/**
 * Making a filesystem again with the identity it had: type, UUID and label. Pure: returns
 * the program and argument array to run.
 */
import { AppError } from '../errors.js';

export interface MkfsCommand {
  program: string;
  args: string[];
}

/** Filesystem types restore can recreate and fill from a tar archive. */
export const RESTORABLE_TYPES = ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat'] as const;

/** `mkfs.vfat -i` wants the volume id as 8 hex digits; blkid shows it as `ABCD-1234`. */
export function vfatVolumeId(uuid: string): string {
  const id = uuid.replace('-', '');
  if (!/^[0-9A-Fa-f]{8}$/.test(id)) {
    throw new AppError('MANIFEST_INVALID', `not a FAT volume id: ${uuid}`);
  }
  return id.toUpperCase();
}

/** mke2fs's default bytes per inode for filesystems of 512 MiB and more (mke2fs.conf). */
const EXT_DEFAULT_INODE_RATIO = 16384;

/**
 * `-N` for mke2fs when the backed-up filesystem held more inodes than a default mkfs of
 * that size may give (it was made with more, e.g. `-i 4096`): without it tar would run out
 * of inodes half-way. Null when the default is comfortably enough.
 */
export function extInodeCount(sizeBytes: number, inodesUsed: number | undefined): number | null {
  if (inodesUsed === undefined) return null;
  const defaultInodes = Math.floor(sizeBytes / EXT_DEFAULT_INODE_RATIO);
  return inodesUsed > defaultInodes * 0.8 ? Math.ceil(inodesUsed * 1.25) : null;
}

/**
 * The mkfs command that makes a `fsType` filesystem on `device` with `uuid` and `label`
 * (either may be null: then mkfs picks a UUID / sets no label). `inodes`: a minimum inode
 * count for ext2/3/4 (see extInodeCount).
 */
export function mkfsCommand(
  fsType: string,
  device: string,
  uuid: string | null,
  label: string | null,
  inodes: number | null = null,
): MkfsCommand {
  switch (fsType) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      return {
        program: `mkfs.${fsType}`,
        args: [
          '-F',
          '-q',
          ...(uuid !== null ? ['-U', uuid] : []),
          ...(label !== null ? ['-L', label] : []),
          ...(inodes !== null ? ['-N', String(inodes)] : []),
          device,
        ],
      };
    case 'xfs':
      return {
        program: 'mkfs.xfs',
        args: [
          '-f',
          '-q',
          ...(uuid !== null ? ['-m', `uuid=${uuid}`] : []),
          ...(label !== null ? ['-L', label] : []),
          device,
        ],
      };
    case 'btrfs':
      return {
        program: 'mkfs.btrfs',
        args: [
          '-f',
          '-q',
          ...(uuid !== null ? ['-U', uuid] : []),
          ...(label !== null ? ['-L', label] : []),
          device,
        ],
      };
    case 'vfat':
      return {
        program: 'mkfs.vfat',
        args: [
          ...(uuid !== null ? ['-i', vfatVolumeId(uuid)] : []),
          ...(label !== null ? ['-n', label] : []),
          device,
        ],
      };
    default:
      throw new AppError('MANIFEST_INVALID', `restore cannot make a ${fsType} filesystem`);
  }
}

/**
 * Read-write mount options for filling a freshly made filesystem. XFS refuses a second
 * filesystem with a UUID already mounted (the source, or its snapshot) unless told nouuid.
 * nosuid,nodev,noexec: the files are the tenant's; none may act on the node while mounted
 * (tar still restores setuid bits and device nodes: the options only govern their use).
 */
export function restoreMountOptions(fsType: string): string[] {
  const safe = ['rw', 'nosuid', 'nodev', 'noexec'];
  return fsType === 'xfs' ? [...safe, 'nouuid'] : safe;
}

/** `mkswap` with the saved UUID and label (swap is skipped at backup, remade at restore). */
export function mkswapCommand(
  device: string,
  uuid: string | null,
  label: string | null,
): MkfsCommand {
  return {
    program: 'mkswap',
    args: [
      ...(uuid !== null ? ['-U', uuid] : []),
      ...(label !== null ? ['-L', label] : []),
      device,
    ],
  };
}
