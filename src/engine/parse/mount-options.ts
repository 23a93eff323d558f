/**
 * Read-only mount options per filesystem type.
 *
 * On an LVM snapshot (writable COW) a plain `ro` mount of ext3/4 or xfs replays the journal
 * into the snapshot, giving the crash-consistent view of a filesystem that was in use (at
 * the cost of a little COW space). A device handed to us with `backup --device` is somebody
 * else's frozen copy (a Cinder snapshot, a read-only loop device): we must not write to it,
 * so the journal is left alone there (`noload` / `norecovery`).
 */

export type MountPlan = { fsType: string; options: string[] } | null;

/** Filesystem types we mount and archive; anything else is kept as a raw image. */
export const MOUNTABLE_TYPES = ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat'] as const;

/**
 * Options for a read-only mount of `fsType`, or null when the type is not one we mount.
 * `replayJournal`: true on our own snapshot, false on a device we must not modify.
 */
export function mountOptionsFor(fsType: string, replayJournal: boolean): MountPlan {
  switch (fsType) {
    case 'ext2':
      return { fsType, options: ['ro'] };
    case 'ext3':
    case 'ext4':
      return { fsType, options: replayJournal ? ['ro'] : ['ro', 'noload'] };
    case 'xfs':
      // nouuid: the snapshot has the origin's UUID, which may be mounted in this kernel.
      return { fsType, options: replayJournal ? ['ro', 'nouuid'] : ['ro', 'nouuid', 'norecovery'] };
    case 'btrfs':
      return { fsType, options: replayJournal ? ['ro'] : ['ro', 'rescue=nologreplay'] };
    case 'vfat':
      return { fsType, options: ['ro'] };
    default:
      return null;
  }
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
