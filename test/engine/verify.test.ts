import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { runCommand } from '../../src/exec/run-command.js';
import { attach, detachAll, makeGptImage, requireRoot } from './helpers/host-images.js';

let work: string;
let good: string;

/** A copy of the good backup's directory, to damage. */
async function copyOfBackup(name: string): Promise<string> {
  const dir = join(work, name);
  await runCommand('cp', ['-a', good, dir]);
  return dir;
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-verify-'));
  setRunRoot(join(work, 'run'));
  const { image } = await makeGptImage(join(work, 'img'));
  const dev = await attach(image, true);
  good = (await backupDevice({ device: dev, dest: join(work, 'dest') })).backupDir;
}, 120_000);

afterAll(async () => {
  await detachAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('verifyBackup', () => {
  it('accepts an intact backup, archive by archive', async () => {
    const r = await verifyBackup({ manifestPath: join(good, 'manifest.json') });
    expect(r).toEqual({
      ok: true,
      archives: [
        { file: 'head.bin.zst', ok: true },
        { file: 'p1.tar.zst', ok: true },
        { file: 'p1.snar.zst', ok: true },
        { file: 'p2.raw.zst', ok: true },
      ],
      chain: [basename(good)],
    });
  });

  it('reports a flipped byte as a checksum mismatch of that archive only', async () => {
    const dir = await copyOfBackup('flipped');
    const file = join(dir, 'p1.tar.zst');
    const data = await readFile(file);
    const at = Math.floor(data.length / 2);
    data.writeUInt8(data.readUInt8(at) ^ 0xff, at);
    await writeFile(file, data);
    const r = await verifyBackup({ manifestPath: join(dir, 'manifest.json') });
    expect(r.ok).toBe(false);
    expect(r.archives.filter((a) => !a.ok).map((a) => a.file)).toEqual(['p1.tar.zst']);
    expect(r.archives[1]?.error).toMatch(/sha256 .* differs/);
  });

  it('catches a SHA256SUMS that disagrees with the manifest', async () => {
    const dir = await copyOfBackup('sums');
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    await writeFile(
      join(dir, 'SHA256SUMS'),
      sums.replace(/^[0-9a-f]{64}(?= {2}p2)/m, '0'.repeat(64)),
    );
    const r = await verifyBackup({ manifestPath: join(dir, 'manifest.json') });
    expect(r.archives.find((a) => a.file === 'p2.raw.zst')?.error).toMatch(/SHA256SUMS disagrees/);
  });

  it('finds a truncated archive unreadable even when its checksum was recomputed', async () => {
    const dir = await copyOfBackup('truncated');
    const file = join(dir, 'p1.tar.zst');
    await truncate(file, 100_000);
    const sha = (await runCommand('sha256sum', [file])).stdout.split(' ')[0] as string;
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const p1 = m.partitions[0]?.archive;
    if (!p1) throw new Error('fixture has no p1 archive');
    p1.sha256 = sha;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    await writeFile(join(dir, 'SHA256SUMS'), sums.replace(/^[0-9a-f]{64}(?= {2}p1)/m, sha));
    const r = await verifyBackup({ manifestPath: join(dir, 'manifest.json') });
    expect(r.archives.find((a) => a.file === 'p1.tar.zst')?.error).toMatch(/unreadable/);
  });

  it('reports a missing archive and refuses a manifest that is not one', async () => {
    const dir = await copyOfBackup('missing');
    await rm(join(dir, 'p2.raw.zst'));
    const r = await verifyBackup({ manifestPath: join(dir, 'manifest.json') });
    expect(r.archives.find((a) => a.file === 'p2.raw.zst')?.error).toMatch(/cannot read: ENOENT/);
    await copyFile(join(dir, 'SHA256SUMS'), join(dir, 'not-a-manifest.json'));
    await expect(
      verifyBackup({ manifestPath: join(dir, 'not-a-manifest.json') }),
    ).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
    });
  });
});
