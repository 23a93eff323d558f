import { describe, expect, it } from 'vitest';
import { parseSize, parseSnapshotSize, snapshotBytes } from '../../../src/engine/parse/size.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('snapshot size parsing', () => {
  it.each([
    ['512M', 512 * MiB],
    ['2G', 2 * GiB],
    ['2g', 2 * GiB],
    ['1.5G', 1.5 * GiB],
    ['64MiB', 64 * MiB],
    ['100K', 102400],
    ['4096B', 4096],
    ['1T', 1024 ** 4],
  ])('parses %s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', '12', 'M', '-1G', '0M', '1X', '1 G G', '1e3M', '2GB extra'])(
    'refuses %j',
    (text) => {
      expect(() => parseSize(text)).toThrow(/invalid size/);
    },
  );

  it('parses percentages of the origin', () => {
    expect(parseSnapshotSize('20%')).toEqual({ kind: 'percent', percent: 20 });
    expect(parseSnapshotSize('100%')).toEqual({ kind: 'percent', percent: 100 });
    expect(parseSnapshotSize('1G')).toEqual({ kind: 'bytes', bytes: GiB });
    for (const bad of ['0%', '101%', 'x%', '%', '-5%']) {
      expect(() => parseSnapshotSize(bad), bad).toThrow(/percentage/);
    }
  });

  it('rounds the COW size up to whole extents', () => {
    const extent = 4 * MiB;
    expect(snapshotBytes({ kind: 'bytes', bytes: 5 * MiB }, GiB, extent)).toBe(8 * MiB);
    expect(snapshotBytes({ kind: 'percent', percent: 10 }, GiB, extent)).toBe(104 * MiB);
    expect(snapshotBytes({ kind: 'bytes', bytes: 1 }, GiB, extent)).toBe(extent);
  });
});
