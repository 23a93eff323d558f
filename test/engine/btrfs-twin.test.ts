/**
 * Issue 10 item 4, performed for real: a btrfs twin is not mixed into a backup. Volumes made
 * from one image share the btrfs fsid; the kernel assembles a btrfs from every device it has
 * registered under that fsid. Each case puts another volume's bytes within the kernel's
 * reach (a twin mounted on the node, a twin only registered, a second device of a
 * multi-device btrfs) and runs the real `backup --device`; then it searches every file of
 * the backup, decompressed, for that volume's marker, and reads the manifest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { BackupResult } from '../../src/engine/backup.js';
import { runRoot, setRunRoot } from '../../src/engine/run-dir.js';
import { runCommand } from '../../src/exec/run-command.js';
import {
  fsidOf,
  makeBtrfsImage,
  makeTwoDeviceBtrfs,
  marker,
  markerText,
  withMounted,
} from './helpers/btrfs-images.js';
import { attach, detach, detachAll, requireRoot } from './helpers/host-images.js';

let work: string;

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-btrfs-twin-'));
  setRunRoot(join(work, 'run'));
});

/** Mount points a case leaves mounted until it ends. */
const mounted: string[] = [];

afterEach(async () => {
  for (const dir of mounted.splice(0).reverse()) {
    await runCommand('umount', [dir], { okExitCodes: [0, 1, 32] });
  }
  await detachAll();
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Whether the decompressed `file` holds `mark` (an independent zstd | grep). */
async function holds(file: string, mark: string): Promise<boolean> {
  const r = await runCommand(
    'bash',
    ['-c', 'set -o pipefail; zstd -dcq -- "$1" | grep -acF -- "$2"', 'holds', file, mark],
    { okExitCodes: [0, 1] },
  );
  if (r.exitCode !== 0 && r.stdout.trim() !== '0') {
    throw new Error(`cannot search ${file}: ${r.stderr}`);
  }
  return Number(r.stdout.trim()) > 0;
}

/** Which of the backup's files, decompressed, hold `mark`; every file is checksummed first. */
async function filesHolding(res: BackupResult, mark: string): Promise<string[]> {
  await runCommand('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: res.backupDir });
  const out: string[] = [];
  for (const name of (await readdir(res.backupDir)).sort()) {
    if (name.endsWith('.zst') && (await holds(join(res.backupDir, name), mark))) out.push(name);
  }
  return out;
}

async function sha256(path: string, zstd = false): Promise<string> {
  if (zstd) {
    const r = await runCommand('bash', [
      '-c',
      'set -o pipefail; zstd -dcq -- "$1" | sha256sum',
      'sha',
      path,
    ]);
    return r.stdout.split(' ')[0] as string;
  }
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Whether a raw image file holds `mark` (grep on the file itself). */
async function imageHolds(image: string, mark: string): Promise<boolean> {
  const r = await runCommand('grep', ['-acF', '--', mark, image], { okExitCodes: [0, 1] });
  return Number(r.stdout.trim()) > 0;
}

async function extract(archive: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  await runCommand('bash', [
    '-c',
    'set -o pipefail; zstd -dcq -- "$1" | tar -x -C "$2" -f -',
    'extract',
    archive,
    into,
  ]);
}

async function nothingLeft(): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  expect(mounts).not.toContain(runRoot());
  expect(existsSync(runRoot()) ? await readdir(runRoot()) : []).toEqual([]);
}

/** What the kernel lists as the devices of btrfs `fsid` (only while it is mounted). */
async function kernelDevices(fsid: string): Promise<string[] | null> {
  return readdir(`/sys/fs/btrfs/${fsid}/devices`).catch(() => null);
}

/** Rewrites the twin's data.txt and adds twin-only.txt, both of `mark` lines. */
async function writeTwin(mnt: string, mark: string): Promise<void> {
  await writeFile(join(mnt, 'data.txt'), markerText(mark));
  await writeFile(join(mnt, 'twin-only.txt'), markerText(mark));
  await runCommand('sync', ['-f', mnt]);
}

/** A single-device volume and its twin: a block copy whose data.txt was then rewritten. */
async function twinPair(dir: string): Promise<{
  ours: string;
  twin: string;
  oursMark: string;
  twinMark: string;
  fsid: string;
}> {
  const oursMark = marker('ours');
  const twinMark = marker('twin');
  const ours = await makeBtrfsImage(dir, 'ours', oursMark);
  const twin = join(dir, 'twin.img');
  await runCommand('cp', ['--sparse=always', ours, twin]);
  const fsid = await fsidOf(ours);
  expect(await fsidOf(twin)).toBe(fsid);
  return { ours, twin, oursMark, twinMark, fsid };
}

describe('a btrfs twin is not mixed into a backup (backup --device, host kernel)', () => {
  it('keeps the volume raw, with the reason, while its twin is mounted on the node, and leaves that mount alone', async () => {
    const dir = join(work, 'mounted');
    const { ours, twin, oursMark, twinMark, fsid } = await twinPair(dir);
    const twinDev = await attach(twin, false);
    const twinMnt = join(dir, 'twin-mounted-elsewhere');
    await mkdir(twinMnt);
    await runCommand('mount', ['-t', 'btrfs', '-o', 'rw', twinDev, twinMnt]);
    mounted.push(twinMnt);
    await writeTwin(twinMnt, twinMark);
    const twinBefore = await readFile(join(twinMnt, 'twin-only.txt'), 'utf8');
    expect(await kernelDevices(fsid)).toEqual([basename(twinDev)]);

    const dev = await attach(ours, true);
    const res = await backupDevice({ device: dev, dest: join(dir, 'dest') });
    expect(await filesHolding(res, twinMark)).toEqual([]);
    const m = res.manifest;
    expect(m.partitions).toHaveLength(1);
    expect(m.partitions[0]).toMatchObject({ number: null, fsType: 'btrfs', action: 'raw' });
    expect(m.partitions[0]?.reason).toMatch(new RegExp(`btrfs ${fsid} is already mounted`));
    const onDisk = JSON.parse(await readFile(res.manifestPath, 'utf8')) as typeof m;
    expect(onDisk.partitions[0]?.reason).toBe(m.partitions[0]?.reason);
    expect(await filesHolding(res, oursMark)).toEqual(['p0.raw.zst']);
    // The raw copy is the volume's own bytes, exactly.
    expect(await sha256(join(res.backupDir, 'p0.raw.zst'), true)).toBe(await sha256(ours));

    // The twin's mount: same device, still read-write, same content, still alone.
    const now = await runCommand('findmnt', ['-n', '-o', 'SOURCE,OPTIONS', twinMnt]);
    expect(now.stdout.trim()).toMatch(new RegExp(`^${twinDev} rw,`));
    expect(await readFile(join(twinMnt, 'twin-only.txt'), 'utf8')).toBe(twinBefore);
    expect((await readFile(join(twinMnt, 'data.txt'), 'utf8')).startsWith(twinMark)).toBe(true);
    expect(await kernelDevices(fsid)).toEqual([basename(twinDev)]);
    await nothingLeft();
  }, 120_000);

  it('archives only the volume own tree while its twin is registered with the kernel (as udev does)', async () => {
    const dir = join(work, 'registered');
    const { ours, twin, oursMark, twinMark, fsid } = await twinPair(dir);
    // The twin gets a newer generation than the volume: its content rewritten.
    const twinDev = await attach(twin, false);
    await withMounted(twinDev, join(dir, 'twin-mnt'), () =>
      writeTwin(join(dir, 'twin-mnt'), twinMark),
    );
    await runCommand('btrfs', ['device', 'scan', twinDev]);
    expect(await kernelDevices(fsid)).toBeNull();

    const dev = await attach(ours, true);
    const res = await backupDevice({ device: dev, dest: join(dir, 'dest') });
    const m = res.manifest;
    expect(m.partitions).toHaveLength(1);
    expect(m.partitions[0]).toMatchObject({
      number: null,
      fsType: 'btrfs',
      action: 'archived',
      archive: { file: 'p0.tar.zst' },
    });
    expect(m.partitions[0]?.mountOptions).toContain(`device=${dev}`);
    expect(await filesHolding(res, twinMark)).toEqual([]);
    const out = join(dir, 'extract');
    await extract(join(res.backupDir, 'p0.tar.zst'), out);
    expect((await readdir(out)).sort()).toEqual(['data.txt']);
    expect(await readFile(join(out, 'data.txt'), 'utf8')).toBe(markerText(oursMark));
    expect(await kernelDevices(fsid)).toBeNull();
    await nothingLeft();
  }, 120_000);

  it('forgets only the devices of its own fsid: another btrfs the node assembled stays registered', async () => {
    const dir = join(work, 'bystander');
    // A two-device btrfs of the node's own (an operator's, scanned to be mounted later).
    const { own, foreign } = await makeTwoDeviceBtrfs(dir, marker('bystander'));
    const first = await attach(foreign, true);
    const second = await attach(own, true);
    try {
      await runCommand('btrfs', ['device', 'scan', first]);
      await runCommand('btrfs', ['device', 'scan', second]);
      // `device ready` is 0 once every device of the filesystem is registered.
      const ready = async (): Promise<number> =>
        (await runCommand('btrfs', ['device', 'ready', second], { okExitCodes: [0, 1] })).exitCode;
      expect(await ready()).toBe(0);

      const oursMark = marker('ours');
      const ours = await makeBtrfsImage(dir, 'ours', oursMark);
      const dev = await attach(ours, true);
      const res = await backupDevice({ device: dev, dest: join(dir, 'dest') });
      expect(res.manifest.partitions[0]).toMatchObject({ fsType: 'btrfs', action: 'archived' });
      expect(await filesHolding(res, oursMark)).toEqual(['p0.tar.zst']);
      // Still both registered: the backup forgot nothing of another fsid.
      expect(await ready()).toBe(0);
      await nothingLeft();
    } finally {
      await runCommand('btrfs', ['device', 'scan', '--forget', first, second], {
        okExitCodes: [0, 1],
      });
    }
  }, 120_000);

  it('keeps raw, with the reason, a btrfs whose second device is another volume, and never reads that device', async () => {
    const dir = join(work, 'two-devices');
    const foreignMark = marker('foreign');
    const { own, foreign } = await makeTwoDeviceBtrfs(dir, foreignMark);
    // The set-up put the foreign volume's bytes on the foreign device alone.
    expect(await imageHolds(foreign, foreignMark)).toBe(true);
    expect(await imageHolds(own, foreignMark)).toBe(false);
    const foreignBefore = await sha256(foreign);

    const foreignDev = await attach(foreign, true);
    await runCommand('btrfs', ['device', 'scan', foreignDev]);
    const dev = await attach(own, true);
    const res = await backupDevice({ device: dev, dest: join(dir, 'dest') });
    expect(await filesHolding(res, foreignMark)).toEqual([]);
    const m = res.manifest;
    expect(m.partitions).toHaveLength(1);
    expect(m.partitions[0]).toMatchObject({ number: null, fsType: 'btrfs', action: 'raw' });
    expect(m.partitions[0]?.reason).toMatch(/spans 2 devices; only this partition/);
    const onDisk = JSON.parse(await readFile(res.manifestPath, 'utf8')) as typeof m;
    expect(onDisk.partitions[0]?.reason).toBe(m.partitions[0]?.reason);
    expect(await sha256(join(res.backupDir, 'p0.raw.zst'), true)).toBe(await sha256(own));
    await detach(foreignDev);
    expect(await sha256(foreign)).toBe(foreignBefore);
    await nothingLeft();
  }, 120_000);
});
