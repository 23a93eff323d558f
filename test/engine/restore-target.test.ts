/**
 * Restores cannot land on the wrong disk: the path rule (only Cinder volume LVs of the
 * node's VGs, anything else only with force), and the exclusive hold that keeps the target
 * unmountable from the in-use check through the wipe (real loop devices, real mount).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreBackup } from '../../src/engine/restore.js';
import { checkTargetPath, lvTargetProblem } from '../../src/engine/restore-checks.js';
import { devNumberOf, holdExclusive, inspectTarget } from '../../src/engine/restore-target.js';
import { LoopDevices } from './helpers/loop-devices.js';

/** The stable code a call throws with, or 'no error'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

const UUID = '0b7d3c2e-5f1a-4c8e-9a6b-1d2e3f4a5b6c';

describe('the restore target rule', () => {
  it('takes /dev/<vg>/volume-<uuid> of a served VG and refuses the rest without force', () => {
    expect(
      checkTargetPath(`/dev/cinder-volumes/volume-${UUID}`, { vgs: ['cinder-volumes'] }),
    ).toEqual({
      lv: { vg: 'cinder-volumes', lv: `volume-${UUID}` },
    });
    for (const path of [
      '/dev/sda',
      '/dev/vda1',
      '/dev/mapper/cinder--volumes-volume--x',
      `/dev/cinder-volumes/volume-${UUID}-snap`,
      `/dev/cinder-volumes/clb-j1-a1-abcdef`,
      `/dev/cinder-volumes/volume-${UUID.toUpperCase()}x`,
      `/dev/../dev/cinder-volumes/volume-${UUID}`,
      `/dev/cinder-volumes/../sda/volume-${UUID}`,
      `/dev/cinder-volumes/volume-${UUID}/`,
    ]) {
      expect(
        codeOf(() => checkTargetPath(path, { vgs: ['cinder-volumes'] })),
        path,
      ).toBe('TARGET_REFUSED');
    }
    // An LV of a VG this node does not serve (another backend's, the OS's own).
    expect(
      codeOf(() => checkTargetPath(`/dev/system/volume-${UUID}`, { vgs: ['cinder-volumes'] })),
    ).toBe('TARGET_REFUSED');
    // By hand: any VG's volume LV; other devices only with force.
    expect(checkTargetPath(`/dev/other/volume-${UUID}`).lv?.vg).toBe('other');
    expect(checkTargetPath('/dev/loop7', { force: true })).toEqual({ lv: null });
  });

  it('refuses snapshots, pools, unknown and open LVs', () => {
    expect(lvTargetProblem(null)).toMatch(/does not know/);
    expect(lvTargetProblem({ attr: 'swi-a-s---', kind: 'snapshot' })).toMatch(/snapshot/);
    expect(lvTargetProblem({ attr: 'twi-aotz--', kind: 'thin-pool' })).toMatch(/thin-pool/);
    expect(lvTargetProblem({ attr: '-wi-ao----', kind: 'thick' })).toMatch(/open/);
    expect(lvTargetProblem({ attr: 'Vwi-a-tz--', kind: 'thin' })).toBeNull();
    expect(lvTargetProblem({ attr: '-wi-a-----', kind: 'thick' })).toBeNull();
  });
});

describe('the exclusive hold on a real block device', () => {
  const work = mkdtempSync(join(tmpdir(), 'clb-target-'));
  const devices = new LoopDevices(work);
  let dev = '';
  beforeAll(async () => {
    dev = await devices.create(64, 'target');
    await execa('mkfs.ext4', ['-q', dev]);
  });
  afterAll(async () => {
    await devices.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('keeps the target unmountable while held, and is refused while it is mounted', async () => {
    const target = await inspectTarget(dev);
    const hold = await holdExclusive(target);
    try {
      await execa('mkdir', ['-p', join(work, 'm')]);
      const mount = await execa('mount', ['-o', 'ro', dev, join(work, 'm')], { reject: false });
      expect(mount.exitCode).not.toBe(0);
      expect(mount.stderr).toMatch(/busy|already mounted/i);
      // wipefs without --force would claim the device too, and fail the same way.
      const wipe = await execa('wipefs', ['--all', '--quiet', dev], { reject: false });
      expect(wipe.exitCode).not.toBe(0);
    } finally {
      await hold.close();
    }
    await devices.mount(dev, join(work, 'm'), 'ro');
    try {
      await expect(holdExclusive(target)).rejects.toMatchObject({ code: 'TARGET_IN_USE' });
    } finally {
      await devices.umount(join(work, 'm'));
    }
  });

  it('refuses a device that is not a volume LV before reading anything, unless forced', async () => {
    await expect(
      restoreBackup({ manifestPath: join(work, 'no-such', 'manifest.json'), target: dev }),
    ).rejects.toMatchObject({ code: 'TARGET_REFUSED' });
    // With force the same call gets past the rule and fails on the missing manifest.
    await expect(
      restoreBackup({
        manifestPath: join(work, 'no-such', 'manifest.json'),
        target: dev,
        force: true,
      }),
    ).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
    const blkid = await execa('blkid', ['-p', '-o', 'export', dev]);
    expect(blkid.stdout).toContain('TYPE=ext4');
  });
});

describe('devNumberOf', () => {
  it('splits small and large dev_t values the way glibc does', () => {
    expect(devNumberOf(0x0701n)).toBe('7:1'); // loop1
    expect(devNumberOf(0xfd05n)).toBe('253:5'); // a dm device
    // major 259, minor 300: minor bits above 8 live at bit 20
    const big = (259n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
    expect(devNumberOf(big)).toBe('259:300');
  });
});
