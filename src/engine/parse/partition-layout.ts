/**
 * A tenant's partition table is input like any other: partitions that overlap (the same
 * bytes archived many times over: 128 GPT entries on one range) or that reach past the end
 * of the device (read beyond the volume) are refused before anything is mapped. Pure.
 */
import { AppError } from '../../errors.js';
import type { PartitionTable, TablePartition } from './sfdisk.js';

/** MBR types of extended partitions: containers of the logical ones, which lie inside. */
const DOS_EXTENDED = new Set(['5', 'f', '85']);

function isContainer(table: PartitionTable, p: TablePartition): boolean {
  return table.label === 'dos' && DOS_EXTENDED.has((p.type ?? '').toLowerCase());
}

/** What is wrong with the layout on a device of `deviceSectors` 512-byte sectors, if anything. */
export function partitionLayoutProblems(table: PartitionTable, deviceSectors: number): string[] {
  const problems: string[] = [];
  const data: TablePartition[] = [];
  for (const p of table.partitions) {
    const end = p.startSector + p.sizeSectors;
    if (p.sizeSectors <= 0) problems.push(`partition ${p.number} is empty`);
    else if (p.startSector < 1 || end > deviceSectors) {
      problems.push(
        `partition ${p.number} (sectors ${p.startSector}-${end - 1}) lies outside the device (${deviceSectors} sectors)`,
      );
    }
    if (!isContainer(table, p)) data.push(p);
  }
  const sorted = [...data].sort((a, b) => a.startSector - b.startSector);
  for (let i = 1; i < sorted.length; i += 1) {
    const prev = sorted[i - 1] as TablePartition;
    const cur = sorted[i] as TablePartition;
    if (cur.startSector < prev.startSector + prev.sizeSectors) {
      problems.push(`partitions ${prev.number} and ${cur.number} overlap`);
    }
  }
  return problems;
}

/** Throws PARTITION_TABLE_INVALID when the layout has problems. */
export function assertPartitionLayout(table: PartitionTable, deviceSectors: number): void {
  const problems = partitionLayoutProblems(table, deviceSectors);
  if (problems.length > 0) {
    throw new AppError(
      'PARTITION_TABLE_INVALID',
      `refusing the partition table: ${problems.slice(0, 5).join('; ')}${
        problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''
      }`,
      { retryable: false },
    );
  }
}
