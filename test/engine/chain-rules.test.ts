import { describe, expect, it } from 'vitest';
import {
  chainProblem,
  identityChange,
  tableWithoutDeviceNames,
  volumeIdentity,
} from '../../src/engine/chain-rules.js';
import type { Manifest, ManifestPartition, VolumeIdentity } from '../../src/engine/manifest.js';

const DUMP = (dev: string, size = 409600): string =>
  `label: gpt\nlabel-id: 5B0C1D2E\ndevice: ${dev}\nunit: sectors\n\n${dev}p1 : start=2048, size=${size}, type=0FC63DAF\n`;

const part = (over: Partial<ManifestPartition> = {}): ManifestPartition => ({
  number: 1,
  startSector: 2048,
  sizeBytes: 409600 * 512,
  fsType: 'ext4',
  uuid: 'aaaa',
  label: 'data',
  partUuid: null,
  partType: null,
  action: 'archived',
  fsSizeBytes: 200_000_000,
  ...over,
});

const ident = (dev = '/dev/loop1', p = part(), size = 600 * 2 ** 20): VolumeIdentity =>
  volumeIdentity({ sizeBytes: size, sfdiskDump: DUMP(dev), partitions: [p] });

describe('volume identity', () => {
  it('is the same through another device name', () => {
    expect(tableWithoutDeviceNames(DUMP('/dev/loop1'))).toBe(
      tableWithoutDeviceNames(DUMP('/dev/mapper/vg-clb--x')),
    );
    expect(identityChange(ident('/dev/loop1'), ident('/dev/loop7'))).toBeNull();
  });

  it.each([
    [
      'a mkfs (new UUID)',
      ident('/dev/l', part({ uuid: 'bbbb' })),
      /p1 filesystem UUID changed \(aaaa to bbbb\)/,
    ],
    [
      'a filesystem resize',
      ident('/dev/l', part({ fsSizeBytes: 300_000_000 })),
      /p1 filesystem resized/,
    ],
    [
      'another filesystem type',
      ident('/dev/l', part({ fsType: 'xfs' })),
      /type changed \(ext4 to xfs\)/,
    ],
    ['a volume resize', ident('/dev/l', part(), 700 * 2 ** 20), /volume's size changed/],
    [
      'a new partition table',
      volumeIdentity({
        sizeBytes: 600 * 2 ** 20,
        sfdiskDump: DUMP('/dev/l', 409000),
        partitions: [part()],
      }),
      /partition table changed/,
    ],
    [
      'a table gone',
      volumeIdentity({
        sizeBytes: 600 * 2 ** 20,
        sfdiskDump: null,
        partitions: [part({ number: null })],
      }),
      /partition table is gone/,
    ],
  ])('changes with %s', (_what, now, reason) => {
    expect(identityChange(ident(), now)).toMatch(reason);
  });
});

describe('chainProblem', () => {
  const m = (id: string, level: number, parentId: string | null, root: string): Manifest =>
    ({
      backupId: id,
      source: { kind: 'device', device: '/dev/loop1', vg: null, lv: null },
      excludes: [],
      partitions: [
        part({
          snapshotFile: {
            file: 'p1.snar.zst',
            bytes: 1,
            sha256: 'x',
            format: 'snar+zstd',
            uncompressedBytes: 1,
          },
        }),
      ],
      chain: { level, parentId, rootId: root, fullReason: null, identity: ident() },
    }) as unknown as Manifest;
  const A = '20261201T000000Z-00000001';
  const B = '20261202T000000Z-00000002';
  const C = '20261203T000000Z-00000003';

  it('accepts full, level 1, level 2 linked by id', () => {
    expect(chainProblem([m(A, 0, null, A), m(B, 1, A, A), m(C, 2, B, A)])).toBeNull();
  });

  it('names a missing level, a wrong root and a changed identity', () => {
    expect(chainProblem([m(A, 0, null, A), m(C, 2, B, A)])).toMatch(/level 2, expected 1/);
    expect(chainProblem([m(A, 0, null, A), m(B, 1, A, C)])).toMatch(/names root/);
    const changed = m(B, 1, A, A);
    (changed.chain as NonNullable<Manifest['chain']>).identity = ident(
      '/dev/l',
      part({ uuid: 'new' }),
    );
    expect(chainProblem([m(A, 0, null, A), changed])).toMatch(/UUID changed/);
  });

  it('wants the parent to have kept its snapshot file', () => {
    const root = m(A, 0, null, A);
    delete root.partitions[0]?.snapshotFile;
    expect(chainProblem([root, m(B, 1, A, A)])).toMatch(/has no snapshot file for p1/);
  });
});
