import { describe, expect, it } from 'vitest';
import {
  lvchangeActivateArgs,
  lvcreateSnapshotArgs,
  lvremoveArgs,
  lvsArgs,
  runTag,
  snapshotLvName,
  vgsArgs,
} from '../../../src/engine/args/lvm-args.js';
import { lvNameProblem } from '../../../src/engine/parse/lvm-names.js';

describe('LVM argument builders', () => {
  it('names snapshots so they cannot collide with Cinder or LVM names', () => {
    const name = snapshotLvName('20261126T150000Z-0a1b2c3d');
    expect(name).toBe('clb-20261126T150000Z-0a1b2c3d');
    expect(lvNameProblem(name)).toBeNull();
    expect(name).not.toMatch(/^(volume-|_snapshot-|snapshot)/);
    expect(runTag('r1')).toBe('clb_run_r1');
  });

  it('builds a thick snapshot with a byte size and tags', () => {
    expect(
      lvcreateSnapshotArgs({
        vg: 'vg',
        origin: 'volume-1',
        name: 'clb-r',
        tags: ['cinder_lvm_backup', 'clb_run_r'],
        cowBytes: 134217728,
      }),
    ).toEqual([
      '--yes',
      '--snapshot',
      '--size',
      '134217728b',
      '--name',
      'clb-r',
      '--addtag',
      'cinder_lvm_backup',
      '--addtag',
      'clb_run_r',
      'vg/volume-1',
    ]);
  });

  it('builds a thin snapshot without a size and activates it with -K', () => {
    const args = lvcreateSnapshotArgs({
      vg: 'vg',
      origin: 't',
      name: 'clb-r',
      tags: ['x'],
      cowBytes: null,
    });
    expect(args).not.toContain('--size');
    expect(lvchangeActivateArgs('vg', 'clb-r')).toEqual([
      '--activate',
      'y',
      '--ignoreactivationskip',
      'vg/clb-r',
    ]);
  });

  it('builds report and removal commands', () => {
    expect(lvsArgs({ vg: 'vg', lv: 'lv' }).slice(0, 5)).toEqual([
      '--reportformat',
      'json',
      '--units',
      'b',
      '--nosuffix',
    ]);
    expect(lvsArgs({ vg: 'vg', lv: 'lv' }).at(-1)).toBe('vg/lv');
    expect(lvsArgs().at(-1)).toMatch(/lv_tags/);
    expect(vgsArgs('vg').at(-1)).toBe('vg');
    expect(lvremoveArgs('vg', 'clb-r')).toEqual(['--force', '--yes', 'vg/clb-r']);
  });
});
