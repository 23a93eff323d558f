/**
 * `backup --device --isolation appliance` on the host: a dos image (p1 ext4 and p2 xfs,
 * populated; p3 raw bytes) attached read-only without partition scanning, archived inside
 * one libguestfs appliance (TCG here: slow), while a watcher looks for any partition node of
 * the image in /proc/partitions and any mount of it in every process's mountinfo. The same
 * source is then backed up in host mode (where the watcher must see the partition nodes and
 * the private-namespace mounts: the watcher can fail), both backups are restored onto loop
 * devices and the restored filesystems compared file by file.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkApplianceRequest } from '../../src/engine/appliance.js';
import { backupDevice } from '../../src/engine/backup-device.js';
import type { Manifest } from '../../src/engine/manifest.js';
import { restoreBackup } from '../../src/engine/restore.js';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { verifyBackup } from '../../src/engine/verify.js';
import { runCommand } from '../../src/exec/run-command.js';
import { AppError } from '../../src/errors.js';
import {
  attach,
  describeTree,
  detach,
  detachAll,
  ensurePartitions,
  populateTree,
  requireRoot,
} from './helpers/host-images.js';

let work: string;
let image: string;
let rawSha = '';
const EXCLUDES = ['/cache', '/dir with spaces/deep'];

async function sh(program: string, args: string[], input?: string): Promise<string> {
  return (await runCommand(program, args, input === undefined ? {} : { input })).stdout;
}

/** p1 ext4 "my data" (populated), p2 xfs "logs" (populated), p3 4 MiB of random bytes. */
async function makeImage(dir: string): Promise<string> {
  const img = join(dir, 'two-fs.img');
  await sh('truncate', ['-s', '440M', img]);
  await sh(
    'sfdisk',
    ['-q', img],
    'label: dos\nsize=96MiB, type=83\nsize=320MiB, type=83\ntype=da\n',
  );
  const dev = await attach(img, false);
  try {
    await ensurePartitions(dev, 3);
    await sh('mkfs.ext4', ['-q', '-L', 'my data', `${dev}p1`]);
    await sh('mkfs.xfs', ['-q', '-L', 'logs', `${dev}p2`]);
    await sh('dd', ['if=/dev/urandom', `of=${dev}p3`, 'bs=1M', 'count=4', 'status=none']);
    rawSha = (await sh('sha256sum', [`${dev}p3`])).split(' ')[0] as string;
    for (const n of [1, 2]) {
      const mnt = join(dir, `mnt${n}`);
      await mkdir(mnt, { recursive: true });
      await sh('mount', [`${dev}p${n}`, mnt]);
      try {
        await populateTree(mnt);
      } finally {
        await sh('umount', [mnt]);
      }
    }
  } finally {
    await detach(dev);
  }
  return img;
}

/** Attaches the image read-only with no partition scan: the kernel gets no partition nodes. */
async function attachPlain(img: string): Promise<string> {
  return (await sh('losetup', ['-f', '--show', '-r', img])).trim();
}

/**
 * Watches, until stopped, for the kernel touching `dev`'s contents: a partition node of it
 * in /proc/partitions, or a mount of it or of its partitions in any process's mountinfo
 * (the host mode mounts in a private namespace, which /proc/self/mountinfo does not show).
 */
function watchKernel(dev: string): { stop: () => Promise<string[]> } {
  const base = dev.replace('/dev/', '');
  const seen = new Set<string>();
  let running = true;
  const look = async (): Promise<void> => {
    const parts = await readFile('/proc/partitions', 'utf8');
    for (const m of parts.matchAll(new RegExp(`\\s(${base}p\\d+)$`, 'gm'))) {
      seen.add(`partition ${m[1]}`);
    }
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const info = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
      for (const line of info.split('\n')) {
        if (line.includes(` ${dev} `) || line.includes(` ${dev}p`)) {
          seen.add(`mount ${line.split(' - ')[1] ?? line}`);
        }
      }
    }
  };
  const loop = (async () => {
    while (running) {
      await look();
      await new Promise((r) => setTimeout(r, 200));
    }
    await look();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return [...seen].sort();
    },
  };
}

async function restoredTrees(manifestPath: string, name: string): Promise<string[]> {
  const target = (await sh('losetup', ['-f', '--show', join(work, `${name}.img`)])).trim();
  try {
    const result = await restoreBackup({ manifestPath, target, force: true });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    await ensurePartitions(target, 3);
    const trees: string[] = [];
    for (const n of [1, 2]) {
      const mnt = join(work, `${name}-p${n}`);
      await mkdir(mnt, { recursive: true });
      await sh('mount', ['-o', n === 2 ? 'ro,nouuid' : 'ro', `${target}p${n}`, mnt]);
      try {
        trees.push(await describeTree(mnt, ['lost+found']));
      } finally {
        await sh('umount', [mnt]);
      }
    }
    const raw = await sh('sha256sum', [`${target}p3`]);
    trees.push(raw.split(' ')[0] as string);
    return trees;
  } finally {
    await detach(target);
  }
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-appliance-'));
  setRunRoot(join(work, 'run'));
  image = await makeImage(work);
  for (const name of ['t-appliance', 't-host']) {
    await sh('truncate', ['-s', '440M', join(work, `${name}.img`)]);
  }
}, 300_000);

afterAll(async () => {
  await detachAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('backup --device with isolation appliance', () => {
  it('archives inside the appliance, the kernel touching nothing, and restores like host mode', async () => {
    const dev = await attachPlain(image);
    let appliance: Manifest;
    let host: Manifest;
    let appliancePath: string;
    let hostPath: string;
    try {
      const mountsBefore = await readFile('/proc/self/mountinfo', 'utf8');
      const watch = watchKernel(dev);
      const t0 = Date.now();
      const res = await backupDevice({
        device: dev,
        dest: join(work, 'dest-appliance'),
        excludes: EXCLUDES,
        isolation: 'appliance',
      });
      const applianceMs = Date.now() - t0;
      const touched = await watch.stop();
      expect(touched).toEqual([]);
      const before = new Set(mountsBefore.split('\n'));
      const added = (await readFile('/proc/self/mountinfo', 'utf8'))
        .split('\n')
        .filter((l) => !before.has(l) && (l.includes(work) || l.includes(dev)));
      expect(added).toEqual([]);
      appliancePath = res.manifestPath;
      appliance = res.manifest;

      // Control: host mode on the same device, where the watcher must see the kernel at work.
      const hostWatch = watchKernel(dev);
      const t1 = Date.now();
      const hostRes = await backupDevice({
        device: dev,
        dest: join(work, 'dest-host'),
        excludes: EXCLUDES,
      });
      const hostMs = Date.now() - t1;
      const hostTouched = await hostWatch.stop();
      expect(hostTouched.some((s) => s.startsWith('partition '))).toBe(true);
      expect(hostTouched.some((s) => s.startsWith('mount '))).toBe(true);
      hostPath = hostRes.manifestPath;
      host = hostRes.manifest;
      console.log(`appliance backup ${applianceMs} ms, host backup ${hostMs} ms`);
    } finally {
      await detach(dev);
    }

    // Same format: the manifest differs in isolation, the figures and what tar-out lacks.
    expect(appliance.isolation).toBe('appliance');
    expect(host.isolation).toBeUndefined();
    expect(appliance.tools['guestfish']).toMatch(/^guestfish \d/);
    expect(appliance.partitionTable).toEqual(host.partitionTable);
    const shape = (m: Manifest): unknown[] =>
      m.partitions.map((p) => [
        p.number,
        p.startSector,
        p.sizeBytes,
        p.fsType,
        p.uuid,
        p.label,
        p.action,
        p.archive?.file,
        p.archive?.format,
        p.fileCount,
      ]);
    expect(shape(appliance)).toEqual(shape(host));
    expect(shape(appliance).map((p) => (p as unknown[]).slice(3, 9))).toEqual([
      ['ext4', host.partitions[0]?.uuid, 'my data', 'archived', 'p1.tar.zst', 'tar+zstd'],
      ['xfs', host.partitions[1]?.uuid, 'logs', 'archived', 'p2.tar.zst', 'tar+zstd'],
      [null, null, null, 'raw', 'p3.raw.zst', 'raw+zstd'],
    ]);
    expect(appliance.partitions[0]?.mountOptions).toEqual(['ro']);
    expect(appliance.partitions[0]?.snapshotFile).toBeUndefined();
    expect(appliance.excludes).toEqual(host.excludes);
    expect(appliance.chain?.level).toBe(0);
    const check = await runCommand('sha256sum', ['-c', 'SHA256SUMS'], {
      cwd: join(appliancePath, '..'),
    });
    expect(check.stdout).toContain('p2.tar.zst: OK');
    expect((await verifyBackup({ manifestPath: appliancePath })).ok).toBe(true);
    const runDirs = join(work, 'run');
    expect(existsSync(runDirs) ? await readdir(runDirs) : []).toEqual([]);

    // Restored file by file: both backups give the same trees, the raw partition's bytes.
    const fromAppliance = await restoredTrees(appliancePath, 't-appliance');
    const fromHost = await restoredTrees(hostPath, 't-host');
    expect(fromHost[0]).toContain('|sparse');
    expect(fromHost[0]).toContain('user.colour="blue"');
    expect(fromHost[0]).toContain('user:4321:rwx');
    expect(fromHost[0]).not.toContain('leaf.txt');
    expect(fromHost[0]).not.toContain('junk.tmp');
    // tar-out has no --sparse: the hole comes back as zeros, same bytes, not sparse.
    const dense = (t: string | undefined): string => (t ?? '').replaceAll('|sparse', '|dense');
    expect(fromAppliance[0]).not.toContain('|sparse');
    expect(dense(fromAppliance[0])).toBe(dense(fromHost[0]));
    expect(dense(fromAppliance[1])).toBe(dense(fromHost[1]));
    expect(fromAppliance[2]).toBe(rawSha);
    expect(fromHost[2]).toBe(rawSha);
  }, 1_200_000);

  it('a filesystem the appliance cannot mount fails with MOUNT_FAILED and leaves nothing behind', async () => {
    // ext4 (4 KiB blocks) whose group descriptors are zeroed: blkid still says ext4, mount fails.
    const img = join(work, 'broken.img');
    await sh('truncate', ['-s', '40M', img]);
    await sh('sfdisk', ['-q', img], 'label: dos\nsize=32MiB, type=83\n');
    const fs = join(work, 'broken-fs.img');
    await sh('truncate', ['-s', '32M', fs]);
    await sh('mkfs.ext4', ['-q', '-b', '4096', fs]);
    await sh('dd', [
      `if=/dev/zero`,
      `of=${fs}`,
      'bs=4096',
      'seek=1',
      'count=1',
      'conv=notrunc',
      'status=none',
    ]);
    await sh('dd', [`if=${fs}`, `of=${img}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
    const dev = await attachPlain(img);
    const dest = join(work, 'dest-broken');
    try {
      const err: unknown = await backupDevice({ device: dev, dest, isolation: 'appliance' }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code, (err as AppError).message).toBe('MOUNT_FAILED');
      expect((err as AppError).message).toMatch(/could not mount \/dev\/sda1 read-only: .*mount/);
      const leftover = join(dest, dev.replace('/dev/', ''));
      expect(existsSync(leftover) ? await readdir(leftover) : []).toEqual([]);
      const runDirs = join(work, 'run');
      expect(existsSync(runDirs) ? await readdir(runDirs) : []).toEqual([]);
      // The appliance is gone: no process names the device (guestfish -a) or holds it open
      // (qemu opens it as its overlay's backing file).
      const holders: string[] = [];
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
        const links = await Promise.all(
          fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
        );
        if (args.includes(dev) || links.includes(dev)) holders.push(args.join(' '));
      }
      expect(holders).toEqual([]);
    } finally {
      await detach(dev);
    }
  }, 900_000);

  it('backup --isolation: appliance with --incremental, or an unknown mode, is a usage error', async () => {
    const cli = (args: string[]) =>
      runCommand('npx', ['tsx', 'src/cli.ts', 'backup', ...args], {
        cwd: join(import.meta.dirname, '..', '..'),
        okExitCodes: [0, 1, 2],
        env: { CLB_RUN_DIR: join(work, 'run') },
      });
    const dest = join(work, 'dest-cli');
    const incr = await cli([
      '--device',
      '/dev/null',
      '--dest',
      dest,
      '--isolation',
      'appliance',
      '--incremental',
    ]);
    expect(incr.exitCode).toBe(2);
    expect(incr.stderr).toMatch(/--incremental is not available with isolation appliance/);
    const bogus = await cli(['--device', '/dev/null', '--dest', dest, '--isolation', 'vm']);
    expect(bogus.exitCode).toBe(2);
    expect(bogus.stderr).toMatch(/--isolation is host or appliance/);
    expect(existsSync(dest)).toBe(false);
  }, 60_000);

  it('refuses without guestfish, and exclude patterns tar-out cannot be given', async () => {
    await expect(checkApplianceRequest(["/it's"])).rejects.toMatchObject({
      code: 'INVALID_EXCLUDE',
    });
    const path = process.env['PATH'];
    process.env['PATH'] = join(work, 'no-such-bin');
    try {
      const err: unknown = await checkApplianceRequest([]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('TOOL_MISSING');
      expect((err as AppError).message).toMatch(/guestfish.*host mode is not used instead/);
    } finally {
      process.env['PATH'] = path;
    }
  });
});
