import { describe, expect, it } from 'vitest';
import { isPlainFileName, validateManifest } from '../../src/engine/restore-manifest.js';

const SHA = 'a'.repeat(64);

function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'cinder-lvm-backup/manifest',
    version: 1,
    backupId: '20261126T101010Z-0a1b2c3d',
    source: { kind: 'lv', sizeBytes: 1048576 },
    partitionTable: { label: 'gpt', sfdiskDump: 'label: gpt\n/dev/x1 : start=2048, size=2048\n' },
    head: {
      file: 'head.bin.zst',
      bytes: 10,
      sha256: SHA,
      format: 'raw+zstd',
      uncompressedBytes: 1048576,
    },
    partitions: [
      {
        number: 1,
        startSector: 2048,
        sizeBytes: 1048576,
        fsType: 'ext4',
        uuid: 'u',
        label: null,
        partUuid: null,
        partType: null,
        action: 'archived',
        fileCount: 11,
        archive: {
          file: 'p1.tar.zst',
          bytes: 5,
          sha256: SHA,
          format: 'tar+zstd',
          uncompressedBytes: 10240,
        },
      },
    ],
    excludes: [],
    ...overrides,
  };
}

describe('validateManifest', () => {
  it('accepts a well-formed manifest and keeps its values', () => {
    const m = validateManifest(manifest());
    expect(m.partitions[0]?.archive?.file).toBe('p1.tar.zst');
    expect(m.partitions[0]?.fileCount).toBe(11);
    expect(m.head?.uncompressedBytes).toBe(1048576);
  });

  it.each([
    ['another format', { format: 'something-else' }, /not a cinder-lvm-backup\/manifest/],
    ['a newer version', { version: 3 }, /version 3 is not supported/],
    ['version 2 without an incremental chain record', { version: 2 }, /does not fit chain level 0/],
    ['no source size', { source: { kind: 'lv' } }, /source.sizeBytes/],
    ['an unknown table label', { partitionTable: { label: 'bsd', sfdiskDump: '' } }, /label "bsd"/],
    [
      'a gpt table without its dump',
      { partitionTable: { label: 'gpt', sfdiskDump: null } },
      /without its sfdisk dump/,
    ],
  ])('refuses %s', (_what, overrides, message) => {
    expect(() => validateManifest(manifest(overrides))).toThrow(message);
  });

  it('refuses archive names that could leave the backup directory', () => {
    for (const file of ['../p1.tar.zst', '/etc/passwd', 'a/b', '.hidden', '']) {
      const bad = manifest();
      (bad['partitions'] as Record<string, unknown>[])[0] = {
        ...(bad['partitions'] as Record<string, unknown>[])[0],
        archive: { file, bytes: 5, sha256: SHA, format: 'tar+zstd', uncompressedBytes: 1 },
      };
      expect(() => validateManifest(bad), file).toThrow(/plain file name/);
    }
  });

  it('refuses a raw partition with a tar archive and an archived one without archive', () => {
    const parts = manifest()['partitions'] as Record<string, unknown>[];
    expect(() =>
      validateManifest(manifest({ partitions: [{ ...parts[0], action: 'raw' }] })),
    ).toThrow(/raw but its archive is not raw\+zstd/);
    expect(() =>
      validateManifest(manifest({ partitions: [{ ...parts[0], archive: undefined }] })),
    ).toThrow(/names no archive/);
  });

  it('refuses a bad checksum and two parts sharing one file', () => {
    const parts = manifest()['partitions'] as Record<string, unknown>[];
    const archive = parts[0]?.['archive'] as Record<string, unknown>;
    expect(() =>
      validateManifest(
        manifest({ partitions: [{ ...parts[0], archive: { ...archive, sha256: 'xyz' } }] }),
      ),
    ).toThrow(/sha256/);
    expect(() =>
      validateManifest(
        manifest({ partitions: [{ ...parts[0], archive: { ...archive, file: 'head.bin.zst' } }] }),
      ),
    ).toThrow(/same archive file/);
  });

  it('wants exactly one unnumbered partition on a device without a table', () => {
    const parts = manifest()['partitions'] as Record<string, unknown>[];
    const none = { label: 'none', sfdiskDump: null };
    expect(() => validateManifest(manifest({ partitionTable: none }))).toThrow(
      /exactly one partition/,
    );
    expect(
      validateManifest(
        manifest({ partitionTable: none, partitions: [{ ...parts[0], number: null }] }),
      ).partitions,
    ).toHaveLength(1);
  });
});

describe('isPlainFileName', () => {
  it('accepts the names backups use', () => {
    expect(['p0.tar.zst', 'p12.raw.zst', 'head.bin.zst'].every(isPlainFileName)).toBe(true);
  });
});
