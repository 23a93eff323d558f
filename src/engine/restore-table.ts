/**
 * The partition table of a restore target, made from the `sfdisk --dump` saved in the
 * manifest. Pure: text in, text out.
 *
 * Two things in a dump tie it to the device it came from: the node names on the partition
 * lines and, for GPT, `last-lba` (the last usable sector of *that* disk). sfdisk numbers
 * partitions from the trailing digits of the node names, so they are rewritten to names of
 * the target that keep each partition's number; `last-lba` and `device` are dropped so that
 * sfdisk computes them for the target, which may be larger than the source.
 */
import { AppError } from '../errors.js';

/** Header keys of a dump that describe the source disk rather than the table. */
const SOURCE_ONLY_HEADER_KEYS = new Set(['device', 'last-lba']);

/** A partition line: `NODE : start=…, size=…, …`. */
const PARTITION_LINE = /^(\S+)\s+:\s+(start=.*)$/;

/** The name sfdisk should see for partition `n` of `target`; its trailing digits are `n`. */
export function targetPartitionName(target: string, n: number): string {
  return `${target}p${n}`;
}

/** Partition numbers in a dump, in the order they appear. */
export function dumpPartitionNumbers(dump: string): number[] {
  const numbers: number[] = [];
  for (const line of dump.split('\n')) {
    const m = PARTITION_LINE.exec(line.trim());
    if (!m) continue;
    numbers.push(partitionNumberOf(m[1] as string));
  }
  return numbers;
}

function partitionNumberOf(node: string): number {
  const digits = /(\d+)$/.exec(node);
  if (!digits) {
    throw new AppError(
      'MANIFEST_INVALID',
      `sfdisk dump names a partition without a number: ${node}`,
    );
  }
  return Number(digits[1]);
}

/**
 * Rewrites a saved `sfdisk --dump` so that `sfdisk TARGET` recreates the same table (same
 * label, disk id, partition numbers, starts, sizes, types, UUIDs, names, attributes) on
 * `target`, which may be larger than the source.
 */
export function rewriteDumpForTarget(dump: string, target: string): string {
  const out: string[] = [];
  let label: string | null = null;
  let partitions = 0;
  for (const raw of dump.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const part = PARTITION_LINE.exec(line);
    if (part) {
      const n = partitionNumberOf(part[1] as string);
      out.push(`${targetPartitionName(target, n)} : ${part[2] as string}`);
      partitions += 1;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new AppError('MANIFEST_INVALID', `unexpected line in the sfdisk dump: ${line}`);
    }
    const key = line.slice(0, colon).trim();
    if (SOURCE_ONLY_HEADER_KEYS.has(key)) continue;
    if (key === 'label') label = line.slice(colon + 1).trim();
    out.push(line);
  }
  if (label !== 'gpt' && label !== 'dos') {
    throw new AppError(
      'MANIFEST_INVALID',
      `the sfdisk dump has no gpt or dos label (${String(label)})`,
    );
  }
  if (partitions === 0) {
    throw new AppError('MANIFEST_INVALID', 'the sfdisk dump lists no partitions');
  }
  // A header line and the first partition line are separated by a blank line in sfdisk's
  // own format; sfdisk accepts either, the blank line keeps the dump readable in logs.
  const firstPart = out.findIndex((l) => PARTITION_LINE.test(l));
  return [...out.slice(0, firstPart), '', ...out.slice(firstPart)].join('\n') + '\n';
}
