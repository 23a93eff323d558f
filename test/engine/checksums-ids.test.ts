import { describe, expect, it } from 'vitest';
import { assertRunId, newBackupId } from '../../src/engine/backup-id.js';
import { formatSha256Sums, manifestFiles, parseSha256Sums } from '../../src/engine/checksums.js';
import type { ArchiveFile, ManifestPartition } from '../../src/engine/manifest.js';

const file = (name: string, sha: string): ArchiveFile => ({
  file: name,
  bytes: 1,
  sha256: sha.repeat(64),
  format: 'raw+zstd',
  uncompressedBytes: 1,
});

describe('SHA256SUMS', () => {
  it('lists head then partition archives in sha256sum -c format and parses back', () => {
    const partitions = [
      { archive: file('p1.tar.zst', 'b') },
      { action: 'skipped' },
      { archive: file('p3.raw.zst', 'c') },
    ] as ManifestPartition[];
    const files = manifestFiles({ head: file('head.bin.zst', 'a'), partitions });
    const text = formatSha256Sums(files);
    expect(text).toBe(
      `${'a'.repeat(64)}  head.bin.zst\n${'b'.repeat(64)}  p1.tar.zst\n${'c'.repeat(64)}  p3.raw.zst\n`,
    );
    expect([...parseSha256Sums(text + `${'d'.repeat(64)} *binary.zst\nnot a line\n`)]).toEqual([
      ['head.bin.zst', 'a'.repeat(64)],
      ['p1.tar.zst', 'b'.repeat(64)],
      ['p3.raw.zst', 'c'.repeat(64)],
      ['binary.zst', 'd'.repeat(64)],
    ]);
  });
});

describe('backup and run ids', () => {
  it('makes sortable UTC ids with 8 random hex digits', () => {
    const id = newBackupId(new Date('2026-11-26T15:04:05.678Z'));
    expect(id).toMatch(/^20261126T150405Z-[0-9a-f]{8}$/);
    expect(
      newBackupId(new Date('2026-11-26T15:04:05Z')) < newBackupId(new Date('2026-11-26T15:04:06Z')),
    ).toBe(true);
  });

  it('accepts plain run ids only', () => {
    expect(assertRunId('job-42_a')).toBe('job-42_a');
    for (const bad of ['', '-x', 'a/b', 'a b', 'x'.repeat(65), 'a;b', '..']) {
      expect(() => assertRunId(bad), bad).toThrow(/invalid run id/);
    }
  });
});
