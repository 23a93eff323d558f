/**
 * A directory renamed between two backups read through different device numbers, as two
 * LVM snapshots of a volume are: the same ext4 image attached on a new loop device for
 * each backup. tar pairs a renamed directory with its old name by (device, inode); the
 * engine gives the parent's snapshot file the new mount's device number (snar-device.ts),
 * so the renamed directory's files are not archived again, and the chain restores to what
 * the source holds (the independent walk of test/storage-node/scenarios/lib.sh).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { BackupResult } from '../../src/engine/backup-frame.js';
import { restoreBackup } from '../../src/engine/restore.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { LoopDevices } from './helpers/loop-devices.js';
import { lib, members, bytesReadFrom } from './helpers/scenario-lib.js';

const work = mkdtempSync(join(tmpdir(), 'clb-rename-'));
const devices = new LoopDevices(work);
const dest = join(work, 'dest');
const MiB = 1024 * 1024;

/**
 * A snapshot of the source: a copy of its image as it is now, on a loop device of its own
 * (each LVM snapshot is a new device), reached through one path (`backup --device` keeps a
 * chain per device path, as per LV). A copy, not the same image on a second loop device:
 * two loop devices over one file do not share a cache, and a backup read one while the
 * suite's other loop-device tests ran saw inodes fail their checksums.
 */
const volume = join(work, 'volume');
let snapshots = 0;
async function freshDevice(): Promise<string> {
  snapshots += 1;
  const name = `snapshot-${snapshots}`;
  await execa('cp', ['--sparse=always', join(work, 'source.img'), join(work, `${name}.img`)]);
  const dev = await devices.attach(name);
  await execa('ln', ['-sfn', dev, volume]);
  return dev;
}

beforeAll(async () => {
  const probe = await execa('losetup', ['-f'], { reject: false });
  if (probe.exitCode !== 0)
    throw new Error(`these tests need loop devices (root): ${probe.stderr}`);
  setRunRoot(join(work, 'run'));
  const first = await devices.create(128, 'source');
  await execa('mkfs.ext4', ['-q', '-L', 'data', first]);
  const dir = join(work, 'fill');
  await devices.mount(first, dir);
  await lib('clb_populate', dir);
  // 24 MiB the level-1 backup must not archive again after its directory is renamed.
  await mkdir(join(dir, 'data', 'deeper'), { recursive: true });
  for (let i = 0; i < 12; i += 1) {
    await execa('head', ['-c', String(2 * MiB), '/dev/urandom'], {
      stdout: { file: join(dir, 'data', `blob-${i}.bin`) },
    });
  }
  await writeFile(join(dir, 'data', 'deeper', 'small.txt'), 'below the renamed directory\n');
  await devices.umount(dir);
  // One loop device over the source image at a time: the snapshots are copies of it.
  await devices.detach(first);
}, 300_000);

afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('a directory renamed between backups through different device numbers', () => {
  let full: BackupResult;
  let inc: BackupResult;
  let second = '';

  it('archives the renamed directory as a rename, not its files again', async () => {
    const firstDevice = await freshDevice();
    full = await backupDevice({ device: volume, dest, level: { kind: 'newest' } });
    expect(full.manifest.chain?.level).toBe(0);

    const dir = join(work, 'edit');
    const editor = await devices.attach('source');
    await devices.mount(editor, dir);
    await rename(join(dir, 'data'), join(dir, 'data-renamed'));
    await writeFile(join(dir, 'new-file.txt'), 'new after the full backup\n');
    await devices.umount(dir);
    await devices.detach(editor);

    second = await freshDevice();
    // What the test is about: the two backups read through different device numbers.
    expect(statSync(second).rdev).not.toBe(statSync(firstDevice).rdev);
    const before = bytesReadFrom(second);
    inc = await backupDevice({ device: volume, dest, level: { kind: 'newest' } });
    const read = bytesReadFrom(second) - before;
    expect(inc.manifest.chain).toMatchObject({ level: 1, parentId: full.manifest.backupId });

    const names = await members(join(inc.backupDir, 'p0.tar.zst'));
    expect(names).toContain('./new-file.txt');
    expect(names).toContain('./data-renamed/');
    expect(names.filter((x) => x.endsWith('.bin'))).toEqual([]);
    const fullBytes = full.manifest.partitions[0]?.archive?.uncompressedBytes ?? 0;
    const incBytes = inc.manifest.partitions[0]?.archive?.uncompressedBytes ?? Infinity;
    console.log(
      `tar stream: full ${(fullBytes / MiB).toFixed(2)} MiB, level 1 after the rename ${(incBytes / MiB).toFixed(2)} MiB; read from ${second}: ${(read / MiB).toFixed(2)} MiB`,
    );
    expect(fullBytes).toBeGreaterThan(24 * MiB);
    expect(incBytes).toBeLessThan(MiB);
    expect(read).toBeLessThan(8 * MiB);
  }, 120_000);

  it('restores the chain to what the source holds', async () => {
    const src = join(work, 'walk-source');
    await devices.mount(second, src, 'ro,noload');
    const expected = await lib('clb_walk', src);
    await devices.umount(src);
    expect(expected).toContain('./data-renamed/blob-11.bin');

    const ok = await verifyBackup({ manifestPath: inc.manifestPath });
    expect(ok.archives.filter((a) => !a.ok)).toEqual([]);
    const target = await devices.create(128, 'target');
    const result = await restoreBackup({ manifestPath: inc.manifestPath, target, force: true });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.chain).toEqual([full, inc].map((b) => b.manifest.backupId));
    const out = join(work, 'walk-restored');
    await devices.mount(target, out, 'ro,noload');
    const restored = await lib('clb_walk', out);
    await devices.umount(out);
    expect(restored).toBe(expected);
  }, 180_000);
});
