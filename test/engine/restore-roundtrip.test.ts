/**
 * Round trip on the host with loop devices (non-dm): the engine's backupDevice, then
 * restoreBackup onto a larger loop device, compared with the independent walk of
 * test/storage-node/scenarios/lib.sh (find, sha256sum, getfattr, getfacl, blkid, sfdisk).
 * The LVM round trips (snapshots, kpartx, thin) run in the storage-node guest.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { backupDevice } from '../../src/engine/backup-device.js';
import { restoreBackup } from '../../src/engine/restore.js';
import { LoopDevices } from './helpers/loop-devices.js';
import { lib } from './helpers/scenario-lib.js';

const work = mkdtempSync(join(tmpdir(), 'clb-restore-rt-'));
const devices = new LoopDevices(work);
const loop = devices.create.bind(devices);
const mount = devices.mount.bind(devices);
const umount = devices.umount.bind(devices);

/** Runs a function of lib.sh (arguments passed as positional parameters, never spliced in). */

let source = '';
const before: Record<string, string> = {};

beforeAll(async () => {
  const probe = await execa('losetup', ['-f'], { reject: false });
  if (probe.exitCode !== 0)
    throw new Error(`these tests need loop devices (root): ${probe.stderr}`);
  setRunRoot(join(work, 'run'));
  source = await loop(560, 'source');
  await lib('clb_gpt_layout', source);
  await execa('partx', ['--add', source]);
  await execa('mkfs.ext4', ['-q', '-L', 'data', `${source}p1`]);
  await execa('mkfs.xfs', ['-q', '-L', 'logs', `${source}p2`]);
  await execa('dd', [
    'if=/dev/urandom',
    `of=${source}p3`,
    'bs=1M',
    'count=8',
    'conv=nocreat',
    'status=none',
  ]);
  for (const n of [1, 2]) {
    const dir = join(work, `src${n}`);
    await mount(`${source}p${n}`, dir, 'rw');
    await lib('clb_populate', dir);
    before[`walk${n}`] = await lib('clb_walk', dir);
    await umount(dir);
    before[`id${n}`] = await lib('clb_identity', `${source}p${n}`);
  }
  before['table'] = await lib('clb_table', source);
  before['raw'] = (await execa('sha256sum', [`${source}p3`])).stdout.split(' ')[0] as string;
}, 300_000);

afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('backupDevice then restoreBackup on loop devices', () => {
  it('gives back the same table, identities, trees, metadata, holes and raw bytes', async () => {
    const t0 = Date.now();
    const backup = await backupDevice({ device: source, dest: join(work, 'dest') });
    const t1 = Date.now();
    const target = await loop(600, 'target');
    const result = await restoreBackup({ manifestPath: backup.manifestPath, target, force: true });
    const t2 = Date.now();
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(await lib('clb_table', target)).toBe(before['table']);
    for (const n of [1, 2]) {
      expect(await lib('clb_identity', `${target}p${n}`)).toBe(before[`id${n}`]);
      const dir = join(work, `dst${n}`);
      await mount(`${target}p${n}`, dir, n === 2 ? 'ro,nouuid' : 'ro');
      try {
        expect(await lib('clb_walk', dir)).toBe(before[`walk${n}`]);
      } finally {
        await umount(dir);
      }
    }
    const raw = (await execa('sha256sum', [`${target}p3`])).stdout.split(' ')[0];
    expect(raw).toBe(before['raw']);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(work);
    console.log(`host round trip: backup ${t1 - t0} ms, restore ${t2 - t1} ms`);
  }, 300_000);
});
