import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRoot, setRunRoot } from '../../src/engine/run-dir.js';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { runCommand } from '../../src/exec/run-command.js';
import { AppError } from '../../src/errors.js';
import {
  attach,
  describeTree,
  detachAll,
  makeGptImage,
  makeXfsImage,
  PAST_MTIME,
  requireRoot,
} from './helpers/host-images.js';

let work: string;
let gpt: { image: string; tree: string };
let xfs: { image: string; tree: string };

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-backup-device-'));
  setRunRoot(join(work, 'run'));
  gpt = await makeGptImage(join(work, 'img'));
  xfs = await makeXfsImage(join(work, 'img'));
}, 120_000);

afterAll(async () => {
  await detachAll();
  if (work) await rm(work, { recursive: true, force: true });
});

async function extract(archive: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  // Independent of the engine: the shell pipeline an operator would type.
  await runCommand('bash', [
    '-c',
    'set -o pipefail; zstd -dc -- "$1" | tar -x --xattrs --xattrs-include="*" --acls --numeric-owner --same-permissions --same-owner -C "$2" -f -',
    'extract',
    archive,
    into,
  ]);
}

async function modes(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    out.push(`${name}:${((await stat(join(dir, name))).mode & 0o777).toString(8)}`);
  }
  return out.sort();
}

async function nothingLeftIn(runDir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  expect(mounts).not.toContain(runDir);
  expect(existsSync(runDir) ? await readdir(runDir) : []).toEqual([]);
}

describe('backup --device on the host', () => {
  it('archives a GPT image: ext4 as tar, BIOS boot raw, swap skipped, checksums valid', async () => {
    const dev = await attach(gpt.image, true);
    const dest = join(work, 'dest-gpt');
    const phases = new Set<string>();
    const res = await backupDevice({
      device: dev,
      dest,
      excludes: ['/cache'],
      onProgress: (p) => phases.add(p.phase.split(' ')[0] as string),
    });
    const m: Manifest = JSON.parse(await readFile(res.manifestPath, 'utf8')) as Manifest;
    expect(res.backupDir).toBe(join(dest, dev.replace('/dev/', ''), m.backupId));
    expect(m.backupId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(m.source).toMatchObject({ kind: 'device', device: dev, sizeBytes: 96 * 1024 * 1024 });
    expect(m.consistency).toBe('as-provided');
    expect(m.partitionTable.label).toBe('gpt');
    expect(m.partitionTable.sfdiskDump).toContain('label: gpt');
    expect(m.partitions.map((p) => [p.number, p.fsType, p.action, p.archive?.file])).toEqual([
      [1, 'ext4', 'archived', 'p1.tar.zst'],
      [2, null, 'raw', 'p2.raw.zst'],
      [3, 'swap', 'skipped', undefined],
    ]);
    expect(m.partitions[1]?.startSector).toBe(2048 + 56 * 2048);
    expect(m.partitions[0]).toMatchObject({
      label: 'my data',
      startSector: 2048,
      mountOptions: ['ro', 'nosuid', 'nodev', 'noexec', 'noload'],
    });
    expect(m.partitions[2]?.reason).toBe('swap');
    expect(m.tools['tar']).toMatch(/GNU tar/);
    expect(m.excludes).toEqual(['./cache']);
    expect(phases.has('archive')).toBe(true);

    // Files 0600, directory 0700, nothing temporary left.
    expect(await modes(res.backupDir)).toEqual([
      'SHA256SUMS:600',
      'head.bin.zst:600',
      'manifest.json:600',
      'p1.snar.zst:600',
      'p1.tar.zst:600',
      'p2.raw.zst:600',
    ]);
    expect(((await stat(res.backupDir)).mode & 0o777).toString(8)).toBe('700');
    expect(await readdir(join(dest, dev.replace('/dev/', '')))).toEqual([m.backupId]);

    // sha256sum -c accepts the checksum file.
    const check = await runCommand('sha256sum', ['-c', 'SHA256SUMS'], { cwd: res.backupDir });
    expect(check.stdout).toContain('p1.tar.zst: OK');
    expect(check.stdout).toContain('p2.raw.zst: OK');

    // The archive holds the same tree as the source, by an independent walk.
    const out = join(work, 'extract-gpt');
    await extract(join(res.backupDir, 'p1.tar.zst'), out);
    expect(await describeTree(out)).toBe(gpt.tree);
    expect(gpt.tree).toContain('sparse');
    expect(gpt.tree).toContain('user.colour="blue"');
    expect(gpt.tree).toContain(`|${PAST_MTIME}|`);

    // The raw image and the head are the device's bytes.
    const raw = execFileSync('zstd', ['-dc', join(res.backupDir, 'p2.raw.zst')], {
      maxBuffer: 64 << 20,
    });
    const part2 = execFileSync(
      'dd',
      [
        `if=${gpt.image}`,
        'bs=512',
        `skip=${m.partitions[1]?.startSector}`,
        'count=8192',
        'status=none',
      ],
      { maxBuffer: 64 << 20 },
    );
    expect(raw.equals(part2)).toBe(true);
    const head = execFileSync('zstd', ['-dc', join(res.backupDir, 'head.bin.zst')]);
    const first = execFileSync('head', ['-c', '1048576', gpt.image]);
    expect(head.equals(first)).toBe(true);
    await nothingLeftIn(runRoot());
  }, 60_000);

  it('archives a device with no partition table as p0', async () => {
    const dev = await attach(xfs.image, true);
    const res = await backupDevice({
      device: dev,
      dest: join(work, 'dest-xfs'),
      excludes: ['cache'],
    });
    const m = res.manifest;
    expect(m.partitionTable).toEqual({ label: 'none', sfdiskDump: null });
    expect(m.partitions).toHaveLength(1);
    expect(m.partitions[0]).toMatchObject({
      number: null,
      startSector: 0,
      fsType: 'xfs',
      label: 'whole',
      action: 'archived',
      mountOptions: ['ro', 'nosuid', 'nodev', 'noexec', 'nouuid', 'norecovery'],
      archive: { file: 'p0.tar.zst', format: 'tar+zstd' },
    });
    const out = join(work, 'extract-xfs');
    await extract(join(res.backupDir, 'p0.tar.zst'), out);
    expect(await describeTree(out)).toBe(xfs.tree);
    await nothingLeftIn(runRoot());
  }, 60_000);

  it('refuses an unwritable destination before doing any work', async () => {
    const dev = await attach(gpt.image, true);
    const ro = join(work, 'ro-dest');
    await mkdir(ro);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const err = await backupDevice({ device: dev, dest: join(ro, 'sub') }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('DEST_NOT_WRITABLE');
    } finally {
      await runCommand('umount', [ro]);
    }
    await nothingLeftIn(runRoot());
  });

  it('refuses at once a destination whose mkdir answers ENOENT although the parent exists (procfs)', async () => {
    const dev = await attach(gpt.image, true);
    const started = Date.now();
    const err = await backupDevice({ device: dev, dest: '/proc/clb-no-such/dir' }).catch(
      (e: unknown) => e,
    );
    expect((err as AppError).code).toBe('DEST_NOT_WRITABLE');
    // Node's recursive mkdir spun here forever; a few seconds allow for a loaded machine.
    expect(Date.now() - started).toBeLessThan(15_000);
    await nothingLeftIn(process.env['CLB_RUN_DIR'] as string);
  }, 60_000);

  it('fails with DEST_FULL when the destination fills up and leaves no partial backup', async () => {
    const dev = await attach(gpt.image, true);
    const small = join(work, 'small-dest');
    await mkdir(small);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const err = await backupDevice({ device: dev, dest: small }).catch((e: unknown) => e);
      expect((err as AppError).code).toBe('DEST_FULL');
      expect(await readdir(small)).toEqual([]);
    } finally {
      await runCommand('umount', [small]);
    }
    await nothingLeftIn(runRoot());
    // The kernel partitions the backup added for the read-only loop device are gone again.
    const base = dev.replace('/dev/', '');
    expect(existsSync(`/sys/class/block/${base}/${base}p1`)).toBe(false);
  }, 60_000);

  it('fails with DEST_GONE when the destination is unmounted mid-archive and leaves nothing on it', async () => {
    const dev = await attach(gpt.image, true);
    const gone = join(work, 'gone-dest');
    await mkdir(gone);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', gone]);
    // The test keeps the filesystem reachable after the lazy unmount, to look at what is left.
    const held = await open(gone, 'r');
    let unmounted = false;
    try {
      const err = await backupDevice({
        device: dev,
        dest: gone,
        onProgress: (p) => {
          if (!unmounted && p.phase.startsWith('archive')) {
            unmounted = true;
            execFileSync('umount', ['-l', gone]);
          }
        },
      }).catch((e: unknown) => e);
      expect(unmounted).toBe(true);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('DEST_GONE');
      // Neither the unfinished backup nor its source directory stays on the detached filesystem.
      expect(await readdir(`/proc/self/fd/${held.fd}`)).toEqual([]);
    } finally {
      await held.close();
      if (!unmounted) await runCommand('umount', [gone]);
    }
    await nothingLeftIn(runRoot());
  }, 60_000);

  it('undoes everything when cancelled mid-archive', async () => {
    const dev = await attach(gpt.image, true);
    const dest = join(work, 'dest-abort');
    const controller = new AbortController();
    const err = await backupDevice({
      device: dev,
      dest,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase.startsWith('archive')) controller.abort(new Error('test cancel'));
      },
    }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('ABORTED');
    expect(existsSync(dest) ? await readdir(dest) : []).toEqual([]);
    await nothingLeftIn(runRoot());
    const base = dev.replace('/dev/', '');
    expect(existsSync(`/sys/class/block/${base}/${base}p1`)).toBe(false);
  }, 60_000);

  it('reports a missing device and a bad exclude clearly', async () => {
    const missing = await backupDevice({
      device: '/dev/does-not-exist',
      dest: join(work, 'd'),
    }).catch((e: unknown) => e);
    expect((missing as AppError).code).toBe('DEVICE_NOT_FOUND');
    const bad = await backupDevice({
      device: '/dev/null',
      dest: join(work, 'd'),
      excludes: ['../etc'],
    }).catch((e: unknown) => e);
    expect((bad as AppError).code).toBe('INVALID_EXCLUDE');
    expect(existsSync(join(work, 'd'))).toBe(false);
  });
});
