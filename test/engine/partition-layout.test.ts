/**
 * A hostile partition table: MBR entries written byte by byte (sfdisk itself refuses to
 * make them) onto a real loop device, backed up with `backupDevice`: overlapping and
 * out-of-range partitions are refused with PARTITION_TABLE_INVALID before anything is
 * mapped or mounted, and nothing is left behind.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDevice } from '../../src/engine/backup.js';
import { partitionLayoutProblems } from '../../src/engine/parse/partition-layout.js';
import type { PartitionTable } from '../../src/engine/parse/sfdisk.js';
import { LoopDevices } from './helpers/loop-devices.js';
import { requireRoot } from './helpers/host-images.js';

const work = mkdtempSync(join(tmpdir(), 'clb-ptable-'));
const devices = new LoopDevices(work);

/** Writes an MBR with these (type, start, sectors) entries onto `dev`. */
async function writeMbr(dev: string, entries: [number, number, number][]): Promise<void> {
  const mbr = Buffer.alloc(512);
  entries.forEach(([type, start, sectors], i) => {
    const at = 446 + 16 * i;
    mbr[at + 4] = type;
    mbr.writeUInt32LE(start, at + 8);
    mbr.writeUInt32LE(sectors, at + 12);
  });
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const h = await open(dev, 'r+');
  try {
    await h.write(mbr, 0, 512, 0);
    await h.sync();
  } finally {
    await h.close();
  }
}

function table(parts: [number, number, number, string?][]): PartitionTable {
  return {
    label: parts.some((p) => p[3] !== undefined) ? 'dos' : 'gpt',
    id: null,
    sectorSize: 512,
    partitions: parts.map(([number, startSector, sizeSectors, type]) => ({
      number,
      startSector,
      sizeSectors,
      type: type ?? null,
      uuid: null,
      name: null,
      bootable: false,
    })),
  };
}

beforeAll(() => {
  requireRoot();
  process.env['CLB_RUN_DIR'] = join(work, 'run');
});
afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('partition layout', () => {
  it('accepts a plain table and logical partitions inside their extended container', () => {
    expect(
      partitionLayoutProblems(
        table([
          [1, 2048, 1000],
          [2, 3048, 1000],
        ]),
        10_000,
      ),
    ).toEqual([]);
    expect(
      partitionLayoutProblems(
        table([
          [1, 2048, 1000, '83'],
          [2, 3048, 5000, '5'],
          [5, 3050, 1000, '83'],
          [6, 4052, 1000, '83'],
        ]),
        10_000,
      ),
    ).toEqual([]);
  });

  it('finds overlaps, partitions past the end or before sector 1, and empty ones', () => {
    expect(
      partitionLayoutProblems(
        table([
          [1, 2048, 1000],
          [2, 2500, 1000],
        ]),
        10_000,
      ),
    ).toEqual(['partitions 1 and 2 overlap']);
    const many = table(
      Array.from({ length: 128 }, (_, i) => [i + 1, 2048, 1000] as [number, number, number]),
    );
    expect(partitionLayoutProblems(many, 10_000)).toHaveLength(127);
    expect(partitionLayoutProblems(table([[1, 2048, 9000]]), 10_000)[0]).toMatch(
      /outside the device/,
    );
    expect(partitionLayoutProblems(table([[1, 0, 100]]), 10_000)[0]).toMatch(/outside the device/);
    expect(partitionLayoutProblems(table([[1, 2048, 0]]), 10_000)[0]).toMatch(/empty/);
  });
});

describe('a hostile MBR on a loop device', () => {
  it.each([
    [
      'overlapping partitions',
      [
        [0x83, 2048, 40_000],
        [0x83, 4096, 40_000],
      ] as [number, number, number][],
    ],
    [
      'a partition past the end of the device',
      [[0x83, 2048, 1_000_000]] as [number, number, number][],
    ],
  ])('refuses %s before mapping anything', async (_what, entries) => {
    const dev = await devices.create(64, `hostile-${entries.length}`);
    await writeMbr(dev, entries);
    const dest = join(work, 'dest');
    await expect(backupDevice({ device: dev, dest })).rejects.toMatchObject({
      code: 'PARTITION_TABLE_INVALID',
    });
    // No partition nodes added, nothing mounted, no backup kept.
    expect(readdirSync('/dev').filter((n) => n.startsWith(`${dev.slice(5)}p`))).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(work);
    const kept = readdirSync(dest, { recursive: true }).map(String);
    expect(kept.filter((f) => f.endsWith('manifest.json'))).toEqual([]);
  });
});
