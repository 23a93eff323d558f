/**
 * Read-only mount options per filesystem type.
 *
 * On an LVM snapshot (writable COW) a plain `ro` mount of ext3/4 or xfs replays the journal
 * into the snapshot, giving the crash-consistent view of a filesystem that was in use (at
 * the cost of a little COW space). A device handed to us with `backup --device` is somebody
 * else's frozen copy (a Cinder snapshot, a read-only loop device): we must not write to it,
 * so the journal is left alone there (`noload` / `norecovery`).
 *
 * Every mount also gets `nosuid,nodev,noexec`: the tenant wrote this filesystem, and nothing
 * in it may become a setuid program, a device node or an executable on the storage node.
 * Btrfs is mounted with `device=` naming our partition, so the kernel is told of no other
 * member (see btrfs-guard.ts for the check against twins registered already).
 */

/** Options every mount of a tenant's filesystem carries after `ro`. */
export const SAFETY_OPTIONS = ['nosuid', 'nodev', 'noexec'] as const;

import { AppError } from '../../errors.js';

export type MountPlan = { fsType: string; options: string[] } | null;

/** Filesystem types we mount and archive; anything else is kept as a raw image. */
export const MOUNTABLE_TYPES = ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat'] as const;

/** The type's own read-only options, after `ro` and the safety options. */
function typeOptions(fsType: string, replayJournal: boolean, device: string): string[] | null {
  switch (fsType) {
    case 'ext2':
    case 'vfat':
      return [];
    case 'ext3':
    case 'ext4':
      return replayJournal ? [] : ['noload'];
    case 'xfs':
      // nouuid: the snapshot has the origin's UUID, which may be mounted in this kernel.
      return replayJournal ? ['nouuid'] : ['nouuid', 'norecovery'];
    case 'btrfs':
      return replayJournal ? [`device=${device}`] : [`device=${device}`, 'rescue=nologreplay'];
    default:
      return null;
  }
}

/**
 * Options for a read-only mount of `fsType` on `device`, or null when the type is not one
 * we mount. `replayJournal`: true on our own snapshot, false on a device we must not modify.
 * A device path that could smuggle an option in (a comma) is refused.
 */
export function mountOptionsFor(fsType: string, replayJournal: boolean, device: string): MountPlan {
  if (!/^\/dev\/[A-Za-z0-9+_./-]+$/.test(device)) {
    throw new AppError(
      'MOUNT_FAILED',
      `refusing to mount ${JSON.stringify(device)}: odd device path`,
    );
  }
  const own = typeOptions(fsType, replayJournal, device);
  return own === null ? null : { fsType, options: ['ro', ...SAFETY_OPTIONS, ...own] };
}

/** What to do with a partition given what blkid found on it. */
export function partitionDisposition(
  fsType: string | null,
): { action: 'archived' } | { action: 'raw' | 'skipped'; reason: string } {
  if (fsType === 'swap') return { action: 'skipped', reason: 'swap' };
  if (fsType !== null && (MOUNTABLE_TYPES as readonly string[]).includes(fsType)) {
    return { action: 'archived' };
  }
  return {
    action: 'raw',
    reason: fsType === null ? 'no filesystem found' : `no mountable filesystem (${fsType})`,
  };
}
