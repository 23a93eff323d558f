import { describe, expect, it } from 'vitest';
import { mountOptionsFor, partitionDisposition } from '../../../src/engine/parse/mount-options.js';

describe('read-only mount options', () => {
  it.each([
    ['ext2', true, ['ro']],
    ['ext3', true, ['ro']],
    ['ext4', true, ['ro']],
    ['ext4', false, ['ro', 'noload']],
    ['xfs', true, ['ro', 'nouuid']],
    ['xfs', false, ['ro', 'nouuid', 'norecovery']],
    ['btrfs', true, ['ro']],
    ['btrfs', false, ['ro', 'rescue=nologreplay']],
    ['vfat', true, ['ro']],
  ])('%s (journal replay %s) mounts with %j', (type, replay, options) => {
    expect(mountOptionsFor(type, replay)).toEqual({ fsType: type, options });
  });

  it('always includes ro and refuses unknown types', () => {
    for (const t of ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat']) {
      expect(mountOptionsFor(t, true)?.options[0]).toBe('ro');
      expect(mountOptionsFor(t, false)?.options[0]).toBe('ro');
    }
    expect(mountOptionsFor('ntfs', true)).toBeNull();
    expect(mountOptionsFor('swap', true)).toBeNull();
  });

  it('archives known filesystems, skips swap and keeps the rest raw', () => {
    expect(partitionDisposition('ext4')).toEqual({ action: 'archived' });
    expect(partitionDisposition('swap')).toEqual({ action: 'skipped', reason: 'swap' });
    expect(partitionDisposition(null)).toEqual({ action: 'raw', reason: 'no filesystem found' });
    expect(partitionDisposition('LVM2_member')).toMatchObject({ action: 'raw' });
  });
});
