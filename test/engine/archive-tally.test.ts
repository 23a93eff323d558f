import { afterEach, describe, expect, it, vi } from 'vitest';
import { archivedVolume, expectedBytes, progressCounter } from '../../src/engine/archive-tally.js';
import type { ArchiveFile, ManifestPartition } from '../../src/engine/manifest.js';
import type { Progress } from '../../src/engine/progress.js';

const file = (name: string, bytes: number, uncompressedBytes: number): ArchiveFile => ({
  file: name,
  bytes,
  sha256: '0'.repeat(64),
  format: name.endsWith('.snar.zst') ? 'snar+zstd' : 'tar+zstd',
  uncompressedBytes,
});

const partition = (n: number, extra: Partial<ManifestPartition>): ManifestPartition => ({
  number: n,
  startSector: 2048 * n,
  sizeBytes: 1 << 20,
  fsType: 'ext4',
  uuid: null,
  label: null,
  partUuid: null,
  partType: null,
  action: 'archived',
  ...extra,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('archive tally', () => {
  it('expects the planned bytes plus the head, the head being 1 MiB at most', () => {
    expect(expectedBytes([{ expectedBytes: 100 }, { expectedBytes: 50 }], 64 << 20)).toBe(
      150 + (1 << 20),
    );
    expect(expectedBytes([], 4096)).toBe(4096);
  });

  it('records every count for the time bound but reports at most every 200 ms', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const seen: Progress[] = [];
    const counter = progressCounter(1000, (p) => seen.push(p));
    const pass = counter.pass('archive p1', 100);
    pass(10);
    pass(20);
    expect(counter.readSoFar()).toBe(120);
    vi.advanceTimersByTime(200);
    pass(30);
    expect(seen).toEqual([
      { phase: 'archive p1', bytesDone: 110, bytesTotal: 1000 },
      { phase: 'archive p1', bytesDone: 130, bytesTotal: 1000 },
    ]);
    expect(counter.readSoFar()).toBe(130);
  });

  it('sums archives, snapshot files and the head into the totals', () => {
    const head = file('head.bin.zst', 7, 1 << 20);
    const v = archivedVolume({
      deviceInfo: { path: '/dev/x', realPath: '/dev/x', sizeBytes: 1 << 30 } as never,
      chain: { level: 0, parentId: null, rootId: 'b', fullReason: 'first', identity: {} as never },
      partitionTable: { label: 'gpt', sfdiskDump: null },
      head,
      partitions: [
        partition(1, {
          fileCount: 3,
          archive: file('p1.tar.zst', 100, 1000),
          snapshotFile: file('p1.snar.zst', 5, 50),
        }),
        partition(2, { action: 'raw', archive: file('p2.raw.zst', 200, 2000) }),
        partition(3, { action: 'skipped', fileCount: undefined }),
      ],
    });
    expect(v.totals).toEqual({ archivedBytes: 3000, storedBytes: 312, fileCount: 3 });
    expect(v.head).toBe(head);
  });
});
