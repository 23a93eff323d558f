/**
 * `--snapshot-size`: an absolute size ("2G", "512M", "1.5GiB") or a percentage of the origin
 * ("20%"). Units are binary, as in LVM's `-L`.
 */
import { AppError } from '../../errors.js';

export type SnapshotSize = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number };

const UNIT: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/** Parses a size with a unit (K, M, G, T; optional `B`/`iB`; `B` alone means bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?$/i.exec(text.trim());
  if (!m || (m[2] === '' && m[3] === undefined)) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `invalid size ${JSON.stringify(text)}: use a number with a unit, e.g. 512M, 2G`,
    );
  }
  const unit = UNIT[(m[2] as string).toUpperCase()] as number;
  if (m[2] === '' && m[3] !== undefined && m[3].toUpperCase() !== 'B') {
    throw new AppError('INVALID_ARGUMENT', `invalid size ${JSON.stringify(text)}`);
  }
  const bytes = Math.ceil(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new AppError('INVALID_ARGUMENT', `invalid size ${JSON.stringify(text)}: out of range`);
  }
  return bytes;
}

/** Parses `--snapshot-size`. */
export function parseSnapshotSize(text: string): SnapshotSize {
  const trimmed = text.trim();
  if (trimmed.endsWith('%')) {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(trimmed);
    const percent = m ? Number(m[1]) : NaN;
    if (!(percent > 0 && percent <= 100)) {
      throw new AppError(
        'INVALID_ARGUMENT',
        `invalid snapshot size ${JSON.stringify(text)}: a percentage must be in (0, 100]`,
      );
    }
    return { kind: 'percent', percent };
  }
  return { kind: 'bytes', bytes: parseSize(trimmed) };
}

/** Default COW size for thick snapshots when none is configured. */
export const DEFAULT_SNAPSHOT_SIZE: SnapshotSize = { kind: 'percent', percent: 20 };

/**
 * The COW size to request, in bytes: the spec applied to the origin, rounded up to whole
 * extents (what lvcreate would allocate anyway, so the preflight compares like with like).
 */
export function snapshotBytes(
  spec: SnapshotSize,
  originBytes: number,
  extentBytes: number,
): number {
  const raw = spec.kind === 'bytes' ? spec.bytes : Math.ceil((originBytes * spec.percent) / 100);
  const extent = extentBytes > 0 ? extentBytes : 1;
  return Math.max(extent, Math.ceil(raw / extent) * extent);
}
