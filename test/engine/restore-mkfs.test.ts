import { describe, expect, it } from 'vitest';
import {
  extInodeCount,
  mkfsCommand,
  mkswapCommand,
  restoreMountOptions,
  vfatVolumeId,
} from '../../src/engine/restore-mkfs.js';

describe('mkfsCommand', () => {
  it.each([
    ['ext4', { program: 'mkfs.ext4', args: ['-F', '-q', '-U', 'u-1', '-L', 'data', '/dev/x'] }],
    ['ext2', { program: 'mkfs.ext2', args: ['-F', '-q', '-U', 'u-1', '-L', 'data', '/dev/x'] }],
    ['xfs', { program: 'mkfs.xfs', args: ['-f', '-q', '-m', 'uuid=u-1', '-L', 'data', '/dev/x'] }],
    ['btrfs', { program: 'mkfs.btrfs', args: ['-f', '-q', '-U', 'u-1', '-L', 'data', '/dev/x'] }],
  ])('makes %s with its UUID and label', (fsType, expected) => {
    expect(mkfsCommand(fsType, '/dev/x', 'u-1', 'data')).toEqual(expected);
  });

  it('gives vfat its volume id as 8 hex digits', () => {
    expect(mkfsCommand('vfat', '/dev/x', 'beef-1234', 'BOOT')).toEqual({
      program: 'mkfs.vfat',
      args: ['-i', 'BEEF1234', '-n', 'BOOT', '/dev/x'],
    });
  });

  it('leaves out the UUID and label options when the backup had none', () => {
    expect(mkfsCommand('ext4', '/dev/x', null, null).args).toEqual(['-F', '-q', '/dev/x']);
  });

  it('keeps a label with spaces as one argument', () => {
    expect(mkfsCommand('ext4', '/dev/x', null, 'my data').args).toContain('my data');
  });

  it('refuses types it cannot make', () => {
    expect(() => mkfsCommand('ntfs', '/dev/x', null, null)).toThrow(/cannot make a ntfs/);
  });
});

describe('vfatVolumeId', () => {
  it('refuses what is not a FAT serial', () => {
    expect(() => vfatVolumeId('c0ffee00-1234-4567-89ab-0123456789ab')).toThrow(
      /not a FAT volume id/,
    );
  });
});

describe('restoreMountOptions', () => {
  it('mounts xfs with nouuid, so a twin of a mounted filesystem can be filled', () => {
    expect(restoreMountOptions('xfs')).toEqual(['rw', 'nosuid', 'nodev', 'noexec', 'nouuid']);
    expect(restoreMountOptions('ext4')).toEqual(['rw', 'nosuid', 'nodev', 'noexec']);
  });
});

describe('extInodeCount', () => {
  it('asks for more inodes only when the backup used most of what a default mkfs gives', () => {
    const GiB = 1024 ** 3;
    expect(extInodeCount(GiB, 300)).toBeNull(); // default: 65536 inodes
    expect(extInodeCount(GiB, undefined)).toBeNull();
    expect(extInodeCount(GiB, 60000)).toBe(75000);
    expect(mkfsCommand('ext4', '/dev/x', null, null, 75000).args).toEqual([
      '-F',
      '-q',
      '-N',
      '75000',
      '/dev/x',
    ]);
  });
});

describe('mkswapCommand', () => {
  it('remakes swap with its UUID and label', () => {
    expect(mkswapCommand('/dev/x', 'u-2', 'swap')).toEqual({
      program: 'mkswap',
      args: ['-U', 'u-2', '-L', 'swap', '/dev/x'],
    });
  });
});
