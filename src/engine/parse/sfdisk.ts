/**
 * Parsers for `sfdisk --json DEV` (the table as data) and `sfdisk --dump DEV` (the text
 * that is saved verbatim in the manifest and fed back to sfdisk on restore).
 */
import { AppError } from '../../errors.js';

export interface TablePartition {
  /** Partition number, from the trailing digits of the node name sfdisk prints. */
  number: number;
  /** Start and size in 512-byte sectors. */
  startSector: number;
  sizeSectors: number;
  type: string | null;
  uuid: string | null;
  name: string | null;
  bootable: boolean;
}

export interface PartitionTable {
  label: 'gpt' | 'dos';
  id: string | null;
  sectorSize: number;
  partitions: TablePartition[];
}

function partitionNumber(node: string): number {
  const m = /(\d+)$/.exec(node);
  if (!m) throw new AppError('PARTITION_FAILED', `sfdisk node without a number: ${node}`);
  return Number(m[1]);
}

/** Parses `sfdisk --json` output; sizes are converted to 512-byte sectors. */
export function parseSfdiskJson(text: string): PartitionTable {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AppError('PARTITION_FAILED', `unparseable sfdisk --json output`, { cause: err });
  }
  const pt = (doc as { partitiontable?: Record<string, unknown> }).partitiontable;
  if (!pt || typeof pt !== 'object') {
    throw new AppError('PARTITION_FAILED', 'sfdisk --json output has no partitiontable');
  }
  const label = pt['label'];
  if (label !== 'gpt' && label !== 'dos') {
    throw new AppError('PARTITION_FAILED', `unsupported partition table label ${String(label)}`);
  }
  const sectorSize = typeof pt['sectorsize'] === 'number' ? pt['sectorsize'] : 512;
  const factor = sectorSize / 512;
  const parts = Array.isArray(pt['partitions'])
    ? (pt['partitions'] as Record<string, unknown>[])
    : [];
  const partitions = parts.map((p): TablePartition => {
    const start = Number(p['start']);
    const size = Number(p['size']);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size)) {
      throw new AppError('PARTITION_FAILED', 'sfdisk partition without integer start/size');
    }
    return {
      number: partitionNumber(typeof p['node'] === 'string' ? p['node'] : ''),
      startSector: start * factor,
      sizeSectors: size * factor,
      type: typeof p['type'] === 'string' ? p['type'] : null,
      uuid: typeof p['uuid'] === 'string' ? p['uuid'] : null,
      name: typeof p['name'] === 'string' ? p['name'] : null,
      bootable: p['bootable'] === true,
    };
  });
  return {
    label,
    id: typeof pt['id'] === 'string' ? pt['id'] : null,
    sectorSize,
    partitions: partitions.sort((a, b) => a.number - b.number),
  };
}

export interface DumpPartition {
  node: string;
  number: number;
  start: number;
  size: number;
  fields: Record<string, string>;
}

export interface SfdiskDump {
  header: Record<string, string>;
  partitions: DumpPartition[];
}

/**
 * Parses `sfdisk --dump`: `key: value` header lines, then `node : start=…, size=…, …`
 * lines. Quoted values (name="…") keep their inner text.
 */
export function parseSfdiskDump(text: string): SfdiskDump {
  const header: Record<string, string> = {};
  const partitions: DumpPartition[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const sep = trimmed.indexOf(' : ');
    if (sep > 0) {
      const node = trimmed.slice(0, sep).trim();
      const fields: Record<string, string> = {};
      for (const m of trimmed
        .slice(sep + 3)
        .matchAll(/([a-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
        const value = (m[2] as string).trim();
        fields[m[1] as string] = value.startsWith('"') ? value.slice(1, -1) : value;
      }
      const start = Number(fields['start']);
      const size = Number(fields['size']);
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size)) {
        throw new AppError('PARTITION_FAILED', `sfdisk dump line without start/size: ${trimmed}`);
      }
      partitions.push({ node, number: partitionNumber(node), start, size, fields });
      continue;
    }
    const colon = trimmed.indexOf(':');
    if (colon > 0) header[trimmed.slice(0, colon).trim()] = trimmed.slice(colon + 1).trim();
  }
  return { header, partitions };
}
