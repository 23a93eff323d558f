import { describe, expect, it } from 'vitest';
import {
  isKpartxMapOf,
  kpartxPartitionName,
  mappingForStart,
  parseKpartxList,
} from '../../../src/engine/parse/kpartx.js';

describe('kpartx names', () => {
  it.each([
    // dm name ends in a digit: 'p' separator
    [
      'cinder--volumes-_snapshot--0b8e2f4e--4bd4--9c1a--3c1f2ab8d9e7',
      1,
      'cinder--volumes-_snapshot--0b8e2f4e--4bd4--9c1a--3c1f2ab8d9e7p1',
    ],
    ['vg-lv0', 12, 'vg-lv0p12'],
    // ends in a letter: no separator
    [
      'cinder--volumes-volume--0b8e2f4e--3c1f2ab8d9ea',
      2,
      'cinder--volumes-volume--0b8e2f4e--3c1f2ab8d9ea2',
    ],
    ['vg-clb--20261126T150000Z--0a1b2c3d', 3, 'vg-clb--20261126T150000Z--0a1b2c3d3'],
  ])('names partition of %s #%d as %s', (dm, n, name) => {
    expect(kpartxPartitionName(dm, n)).toBe(name);
    expect(isKpartxMapOf(dm, name)).toBe(true);
  });

  it('does not take another LV for a partition map', () => {
    expect(isKpartxMapOf('vg-lv1', 'vg-lv12')).toBe(false);
    expect(isKpartxMapOf('vg-lv1', 'vg-lv1p2')).toBe(true);
    expect(isKpartxMapOf('vg-lva', 'vg-lvab1')).toBe(false);
    expect(isKpartxMapOf('vg-lva', 'vg-lvap1')).toBe(false);
    expect(isKpartxMapOf('vg-lva', 'vg-lva')).toBe(false);
  });

  it('parses kpartx -l and -av output and matches by start sector', () => {
    const text = [
      'cinder--volumes-clb--x1a1 : 0 409600 /dev/cinder-volumes/clb-x1a 2048',
      'cinder--volumes-clb--x1a2 : 0 6144 /dev/cinder-volumes/clb-x1a 411648',
      'add map cinder--volumes-clb--x1a3 (254:7): 0 8192 linear 254:4 417792',
      'some unrelated warning',
    ].join('\n');
    const maps = parseKpartxList(text);
    expect(maps).toEqual([
      {
        name: 'cinder--volumes-clb--x1a1',
        sizeSectors: 409600,
        device: '/dev/cinder-volumes/clb-x1a',
        startSector: 2048,
      },
      {
        name: 'cinder--volumes-clb--x1a2',
        sizeSectors: 6144,
        device: '/dev/cinder-volumes/clb-x1a',
        startSector: 411648,
      },
    ]);
    expect(mappingForStart(maps, 411648)?.name).toBe('cinder--volumes-clb--x1a2');
    expect(mappingForStart(maps, 4096)).toBeUndefined();
  });
});
