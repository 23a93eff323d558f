import { describe, expect, it } from 'vitest';
import { mountOptionsFor, partitionDisposition } from '../../../src/engine/parse/mount-options.js';

const DEV = '/dev/mapper/cinder--volumes-clb--j1--a1--abc123p2';

describe('read-only mount options', () => {
  it.each([
    ['ext2', true, []],
    ['ext3', true, []],
    ['ext4', true, []],
    ['ext4', false, ['noload']],
    ['xfs', true, ['nouuid']],
    ['xfs', false, ['nouuid', 'norecovery']],
    ['btrfs', true, [`device=${DEV}`]],
    ['btrfs', false, [`device=${DEV}`, 'rescue=nologreplay']],
    ['vfat', true, []],
  ])('%s (journal replay %s) mounts ro,nosuid,nodev,noexec plus %j', (type, replay, own) => {
    expect(mountOptionsFor(type, replay, DEV)).toEqual({
      fsType: type,
      options: ['ro', 'nosuid', 'nodev', 'noexec', ...own],
    });
  });

  it('always includes ro,nosuid,nodev,noexec and refuses unknown types', () => {
    for (const t of ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat']) {
      for (const replay of [true, false]) {
        expect(mountOptionsFor(t, replay, DEV)?.options.slice(0, 4)).toEqual([
          'ro',
          'nosuid',
          'nodev',
          'noexec',
        ]);
      }
    }
    expect(mountOptionsFor('ntfs', true, DEV)).toBeNull();
    expect(mountOptionsFor('swap', true, DEV)).toBeNull();
  });

  it('refuses a device path that could add mount options', () => {
    for (const bad of ['/dev/x,rw', '/dev/x,device=/dev/sdb', 'relative', '/dev/a b']) {
      expect(() => mountOptionsFor('btrfs', true, bad)).toThrow(/odd device path/);
    }
  });

  it('archives known filesystems, skips swap and keeps the rest raw', () => {
    expect(partitionDisposition('ext4')).toEqual({ action: 'archived' });
    expect(partitionDisposition('swap')).toEqual({ action: 'skipped', reason: 'swap' });
    expect(partitionDisposition(null)).toEqual({ action: 'raw', reason: 'no filesystem found' });
    expect(partitionDisposition('LVM2_member')).toMatchObject({ action: 'raw' });
  });
});
