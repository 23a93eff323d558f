/**
 * Incremental chains on the host with loop devices: a full backup, changes (edits,
 * deletions, renames of files and directories, new files) on ext4 and xfs, two levels on
 * top, then the chain restored onto a fresh device and compared with the source through
 * the independent walk of test/storage-node/scenarios/lib.sh (find, sha256sum, getfattr,
 * getfacl). Proves that unchanged files are not read again: the incremental's tar stream
 * lists only what changed, and the kernel's read counter of the source device moves by a
 * fraction of the data. A mkfs or changed excludes start a new chain by themselves.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, mkdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
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

const work = mkdtempSync(join(tmpdir(), 'clb-incr-'));
const devices = new LoopDevices(work);
const dest = join(work, 'dest');
const MiB = 1024 * 1024;

let source = '';

/** Mounts partition `n` of the source read-write, runs `fn` on it, unmounts. */
async function change(n: number, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = join(work, `edit${n}`);
  await devices.mount(`${source}p${n}`, dir, 'rw');
  try {
    await fn(dir);
  } finally {
    await devices.umount(dir);
  }
}

async function walk(n: number): Promise<string> {
  const dir = join(work, `walk${n}`);
  await devices.mount(`${source}p${n}`, dir, n === 2 ? 'ro,nouuid' : 'ro');
  try {
    return await lib('clb_walk', dir);
  } finally {
    await devices.umount(dir);
  }
}

beforeAll(async () => {
  const probe = await execa('losetup', ['-f'], { reject: false });
  if (probe.exitCode !== 0)
    throw new Error(`these tests need loop devices (root): ${probe.stderr}`);
  setRunRoot(join(work, 'run'));
  source = await devices.create(560, 'source');
  await lib('clb_gpt_layout', source);
  await execa('partx', ['--add', source]);
  await execa('mkfs.ext4', ['-q', '-L', 'data', `${source}p1`]);
  await execa('mkfs.xfs', ['-q', '-L', 'logs', `${source}p2`]);
  await execa('dd', ['if=/dev/urandom', `of=${source}p3`, 'bs=1M', 'count=8', 'status=none']);
  for (const n of [1, 2]) {
    await change(n, async (dir) => {
      await lib('clb_populate', dir);
      // 24 MiB of incompressible data the incrementals must not read again.
      await mkdir(join(dir, 'data'));
      for (let i = 0; i < 12; i += 1) {
        await execa('head', ['-c', String(2 * MiB), '/dev/urandom'], {
          stdout: { file: join(dir, 'data', `blob-${i}.bin`) },
        });
      }
    });
  }
}, 300_000);

afterAll(async () => {
  await devices.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('incremental backups on loop devices', () => {
  let full: BackupResult;
  let fullRead = 0;
  let inc1: BackupResult;
  let inc2: BackupResult;
  const expected: Record<number, string> = {};

  it('makes a full backup that keeps a tar snapshot file per filesystem', async () => {
    const before = bytesReadFrom(source);
    full = await backupDevice({ device: source, dest, level: { kind: 'newest' } });
    fullRead = bytesReadFrom(source) - before;
    const m = full.manifest;
    expect(m.version).toBe(1);
    expect(m.chain).toMatchObject({
      level: 0,
      parentId: null,
      rootId: m.backupId,
      fullReason: expect.stringMatching(/^no earlier backup in /) as unknown,
    });
    const sums = readFileSync(join(full.backupDir, 'SHA256SUMS'), 'utf8');
    for (const n of [1, 2]) {
      const p = m.partitions.find((x) => x.number === n);
      expect(p?.snapshotFile).toMatchObject({ file: `p${n}.snar.zst`, format: 'snar+zstd' });
      expect(sums).toContain(`${p?.snapshotFile?.sha256 ?? 'none'}  p${n}.snar.zst`);
    }
    const check = await execa('sha256sum', ['-c', 'SHA256SUMS'], { cwd: full.backupDir });
    expect(check.stdout).toContain('p1.snar.zst: OK');
  }, 120_000);

  it('makes level 1 from the changes alone, without reading unchanged files again', async () => {
    for (const n of [1, 2]) {
      await change(n, async (dir) => {
        await appendFile(join(dir, 'plain', 'numbers.txt'), 'one more line\n');
        await rm(join(dir, 'plain', 'random.bin'));
        await rm(join(dir, 'data', 'blob-0.bin'));
        await rename(join(dir, 'bulk', 'small-1.txt'), join(dir, 'bulk', 'renamed-1.txt'));
        await rename(join(dir, 'spaced dir'), join(dir, 'moved dir'));
        await writeFile(join(dir, 'new-file.txt'), 'new after the full backup\n');
        await truncate(join(dir, 'data', 'blob-1.bin'), MiB);
      });
    }
    const before = bytesReadFrom(source);
    inc1 = await backupDevice({ device: source, dest, level: { kind: 'newest' } });
    const read = bytesReadFrom(source) - before;
    const m = inc1.manifest;
    expect(m.version).toBe(2);
    expect(m.chain).toMatchObject({
      level: 1,
      parentId: full.manifest.backupId,
      rootId: full.manifest.backupId,
      fullReason: null,
    });
    for (const n of [1, 2]) {
      const names = await members(join(inc1.backupDir, `p${n}.tar.zst`));
      expect(names).toContain('./new-file.txt');
      expect(names).toContain('./plain/numbers.txt');
      expect(names).toContain('./data/blob-1.bin');
      // Unchanged files are not in the stream: neither the blobs nor the populated tree.
      expect(names.filter((x) => /blob-([2-9]|1[01])\.bin$/.test(x))).toEqual([]);
      expect(names).not.toContain('./plain/hello.txt');
      expect(names).not.toContain('./bulk/small-2.txt');
      const fullP = full.manifest.partitions.find((x) => x.number === n)?.archive;
      const incP = m.partitions.find((x) => x.number === n)?.archive;
      expect(incP?.uncompressedBytes ?? Infinity).toBeLessThan((fullP?.uncompressedBytes ?? 0) / 5);
    }
    // The full backup read every blob (2 × 24 MiB); the incremental reads metadata, the
    // changed files (1 MiB each side), the 8 MiB raw partition and the head.
    console.log(
      `read from ${source}: full ${(fullRead / MiB).toFixed(1)} MiB, level 1 ${(read / MiB).toFixed(1)} MiB`,
    );
    expect(fullRead).toBeGreaterThan(48 * MiB);
    expect(read).toBeLessThan(24 * MiB);
  }, 120_000);

  it('makes level 2 on level 1 and restores the chain to what the source holds', async () => {
    for (const n of [1, 2]) {
      await change(n, async (dir) => {
        await rm(join(dir, 'moved dir'), { recursive: true });
        await rm(join(dir, 'new-file.txt'));
        await mkdir(join(dir, 'level2'));
        await writeFile(join(dir, 'level2', 'f.txt'), 'level 2\n');
        await rename(join(dir, 'data', 'blob-2.bin'), join(dir, 'level2', 'blob-2.bin'));
        // New at level 2 in a directory with a default ACL, cleared of the ACL it inherited:
        // extracted onto the tree of level 1, it must not inherit it again.
        const cleared = join(dir, 'attrs', 'default-acl-dir', 'cleared.txt');
        await writeFile(cleared, 'no ACL of its own\n');
        await execa('setfacl', ['-b', cleared]);
      });
      expected[n] = await walk(n);
    }
    inc2 = await backupDevice({ device: source, dest, level: { kind: 'newest' } });
    expect(inc2.manifest.chain).toMatchObject({
      level: 2,
      parentId: inc1.manifest.backupId,
      rootId: full.manifest.backupId,
    });
    const ok = await verifyBackup({ manifestPath: inc2.manifestPath });
    expect(ok.archives.filter((a) => !a.ok)).toEqual([]);
    expect(ok.chain).toEqual([full, inc1, inc2].map((b) => b.manifest.backupId));
    expect(ok.archives.map((a) => a.file)).toContain(`${full.manifest.backupId}/p1.tar.zst`);

    const target = await devices.create(600, 'target');
    const result = await restoreBackup({ manifestPath: inc2.manifestPath, target, force: true });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.chain).toEqual([full, inc1, inc2].map((b) => b.manifest.backupId));
    expect(Object.keys(result.timings)).toContain('extract:p1:l2');
    for (const n of [1, 2]) {
      const dir = join(work, `restored${n}`);
      await devices.mount(`${target}p${n}`, dir, n === 2 ? 'ro,nouuid' : 'ro');
      try {
        expect(await lib('clb_walk', dir)).toBe(expected[n]);
      } finally {
        await devices.umount(dir);
      }
    }
  }, 300_000);

  it('starts a new chain by itself after a mkfs, and after the excludes changed', async () => {
    await execa('mkfs.ext4', ['-q', '-F', '-L', 'data', `${source}p1`]);
    await change(1, (dir) => writeFile(join(dir, 'after-mkfs.txt'), 'x\n'));
    const fresh = await backupDevice({ device: source, dest, level: { kind: 'newest' } });
    expect(fresh.manifest.version).toBe(1);
    expect(fresh.manifest.chain?.level).toBe(0);
    expect(fresh.manifest.chain?.fullReason).toMatch(
      /^p1 filesystem UUID changed .*: a new filesystem$/,
    );

    const next = await backupDevice({ device: source, dest, level: { kind: 'newest' } });
    expect(next.manifest.chain).toMatchObject({ level: 1, parentId: fresh.manifest.backupId });
    const excluded = await backupDevice({
      device: source,
      dest,
      excludes: ['./level2'],
      level: { kind: 'newest' },
    });
    expect(excluded.manifest.chain?.level).toBe(0);
    expect(excluded.manifest.chain?.fullReason).toMatch(/excludes changed/);
  }, 300_000);

  it('refuses to restore or verify a chain with a missing level, before touching the target', async () => {
    rmSync(inc1.backupDir, { recursive: true });
    const v = await verifyBackup({ manifestPath: inc2.manifestPath });
    expect(v.ok).toBe(false);
    expect(v.archives.find((a) => a.file === 'chain')?.error).toMatch(/chain broken/);
    const target = await devices.create(600, 'target2');
    await execa('mkfs.ext4', ['-q', '-L', 'untouched', target]);
    await expect(
      restoreBackup({ manifestPath: inc2.manifestPath, target, force: true }),
    ).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
    expect((await execa('blkid', ['-p', '-s', 'LABEL', '-o', 'value', target])).stdout).toBe(
      'untouched',
    );
  }, 120_000);
});
