import { describe, expect, it } from 'vitest';
import {
  assertLvName,
  cinderVolumeId,
  dmNameOf,
  lvNameProblem,
  parseLvSpec,
  vgNameProblem,
} from '../../../src/engine/parse/lvm-names.js';
import { AppError } from '../../../src/errors.js';

describe('LVM name validation', () => {
  it.each([
    'cinder-volumes',
    'vg0',
    'a+b_c.d-e',
    'volume-0b8e2f4e-4bd4-4f5c-9c1a-3c1f2ab8d9e1',
    '_snapshot-x',
    'x'.repeat(127),
  ])('accepts the LV name %s', (name) => {
    expect(lvNameProblem(name)).toBeNull();
  });

  it.each([
    ['', 'empty'],
    ['-lv', 'start with "-"'],
    ['.', '"." or ".."'],
    ['..', '"." or ".."'],
    ['a b', 'only letters'],
    ['lv;rm -rf /', 'only letters'],
    ['$(reboot)', 'only letters'],
    ['lv/x', 'only letters'],
    ['lvé', 'only letters'],
    ['snapshot1', 'reserved'],
    ['pvmove0', 'reserved'],
    ['data_tmeta', 'reserved'],
    ['x_cdata', 'reserved'],
    ['r_rimage_0', 'reserved'],
    ['x'.repeat(128), 'longer than'],
  ])('refuses the LV name %j (%s)', (name, why) => {
    expect(lvNameProblem(name)).toContain(why);
  });

  it('allows reserved LV substrings in VG names but not bad characters', () => {
    expect(vgNameProblem('snapshot_tmeta')).toBeNull();
    expect(vgNameProblem('vg`id`')).toContain('only letters');
  });

  it('throws INVALID_LV_NAME with the reason', () => {
    expect(() => assertLvName('a;b')).toThrow(AppError);
    try {
      assertLvName('a;b');
    } catch (err) {
      expect((err as AppError).code).toBe('INVALID_LV_NAME');
    }
  });

  it('splits VG/LV and refuses other shapes', () => {
    expect(parseLvSpec('cinder-volumes/volume-1')).toEqual({
      vg: 'cinder-volumes',
      lv: 'volume-1',
    });
    for (const bad of ['vg', 'vg/lv/x', '/lv', 'vg/', 'vg/$(id)']) {
      expect(() => parseLvSpec(bad), bad).toThrow(/VG\/LV|invalid/);
    }
  });

  it('extracts the Cinder volume id from volume-<uuid> names only', () => {
    expect(cinderVolumeId('volume-0B8E2F4E-4bd4-4f5c-9c1a-3c1f2ab8d9e1')).toBe(
      '0b8e2f4e-4bd4-4f5c-9c1a-3c1f2ab8d9e1',
    );
    expect(cinderVolumeId('volume-foo')).toBeNull();
    expect(cinderVolumeId('data')).toBeNull();
  });

  it.each([
    ['cinder-volumes', 'volume-ab-1', 'cinder--volumes-volume--ab--1'],
    ['vg0', 'lv0', 'vg0-lv0'],
    ['my_vg', 'clb-20261126T150000Z-0a1b2c3d', 'my_vg-clb--20261126T150000Z--0a1b2c3d'],
  ])('derives the dm name of %s/%s', (vg, lv, dm) => {
    expect(dmNameOf(vg, lv)).toBe(dm);
  });
});
