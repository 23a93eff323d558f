import { describe, expect, it } from 'vitest';
import {
  tarExtractArgs,
  tarExtractReadBytes,
  tarCreateArgs,
  tarListArgs,
  zstdCompressArgs,
  zstdDecompressArgs,
  zstdTestArgs,
} from '../../../src/engine/args/archive-args.js';
import { parseTarTotals } from '../../../src/engine/parse/tar-totals.js';

describe('tar --totals', () => {
  it('reads the byte count and tolerates its absence', () => {
    expect(
      parseTarTotals('tar: ./x: socket ignored\nTotal bytes written: 10240 (10KiB, 9.8MiB/s)\n'),
    ).toBe(10240);
    expect(parseTarTotals('tar: Exiting with failure status\n')).toBeNull();
  });

  it('reads what an extraction read, and only the line asked for', () => {
    const extracted = 'Total bytes read: 1541324800 (1.5GiB, 155MiB/s)\n';
    expect(parseTarTotals(extracted, 'read')).toBe(1541324800);
    expect(parseTarTotals(extracted)).toBeNull();
    expect(parseTarTotals('Total bytes written: 10240 (10KiB, 9.8MiB/s)\n', 'read')).toBeNull();
  });
});

describe('archive argument builders', () => {
  it('builds tar create with metadata options, lost+found and excludes last before the source', () => {
    const args = tarCreateArgs(
      '/run/cinder-lvm-backup/r1/p1',
      ['./var/cache', '*.tmp'],
      '/run/cinder-lvm-backup/r1/p1.fifo',
    );
    expect(args).toEqual([
      '--create',
      '--file=/run/cinder-lvm-backup/r1/p1.fifo',
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--acls',
      '--numeric-owner',
      '--sparse',
      '--one-file-system',
      '--totals',
      '--exclude=./lost+found',
      '--exclude=./var/cache',
      '--exclude=*.tmp',
      '--directory=/run/cinder-lvm-backup/r1/p1',
      '.',
    ]);
  });

  it('keeps an exclude with spaces as one argument', () => {
    expect(tarCreateArgs('/m', ['a b'], '/f')).toContain('--exclude=a b');
  });

  it('reads and updates a listed-incremental snapshot file, ignoring device numbers', () => {
    const args = tarCreateArgs('/m', [], '/f', '/run/r1/p1.snar');
    expect(args).toContain('--listed-incremental=/run/r1/p1.snar');
    expect(args).toContain('--no-check-device');
    expect(args.indexOf('--no-check-device')).toBeLessThan(args.indexOf('--directory=/m'));
    expect(tarCreateArgs('/m', [], '/f').some((a) => a.startsWith('--listed'))).toBe(false);
  });

  it('extracts a level of a chain with its deletions applied', () => {
    expect(tarExtractArgs('/d', { incremental: true })).toContain('--listed-incremental=/dev/null');
    expect(tarExtractArgs('/d').some((a) => a.startsWith('--listed'))).toBe(false);
  });

  it('resets ACLs file by file only onto a tree an earlier level made', () => {
    expect(tarExtractArgs('/d')).not.toContain('--acls');
    expect(tarExtractArgs('/d', { incremental: true })).not.toContain('--acls');
    expect(tarExtractArgs('/d', { incremental: true, ontoExisting: true })).toContain('--acls');
  });

  it("expects tar's count of an extracted stream in whole 1 MiB records", () => {
    // As GNU tar 1.34 reported them for these stream sizes.
    expect(tarExtractReadBytes(10_240)).toBe(1_048_576);
    expect(tarExtractReadBytes(3_010_560)).toBe(3_145_728);
    expect(tarExtractReadBytes(1_541_324_800)).toBe(1_541_406_720);
    expect(tarExtractReadBytes(2 * 1_048_576)).toBe(2 * 1_048_576);
  });

  it('builds tar list and zstd commands', () => {
    expect(tarListArgs()).toEqual([
      '--list',
      '--file=-',
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--acls',
      '--numeric-owner',
    ]);
    expect(zstdCompressArgs({ level: 3, threads: 2 })).toEqual(['-3', '-T2', '-q', '-c']);
    expect(zstdCompressArgs({ level: 3, threads: 0, input: '/dev/loop0p2' })).toEqual([
      '-3',
      '-T0',
      '-q',
      '-c',
      '-f',
      '--',
      '/dev/loop0p2',
    ]);
    expect(zstdDecompressArgs('/b/p1.tar.zst')).toEqual(['-d', '-q', '-c', '--', '/b/p1.tar.zst']);
    expect(zstdTestArgs('/b/p1.tar.zst')).toEqual(['-t', '-q', '--', '/b/p1.tar.zst']);
  });

  it('extracts with owners, permissions and every xattr namespace (ACLs among them)', () => {
    expect(tarExtractArgs('/run/x/p1')).toEqual([
      '--extract',
      '--file=-',
      '--blocking-factor=2048',
      '--read-full-records',
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--numeric-owner',
      '--same-permissions',
      '--same-owner',
      '--totals',
      '--directory=/run/x/p1',
    ]);
  });
});
