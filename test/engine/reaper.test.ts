import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reap } from '../../src/engine/reaper.js';
import {
  createRunDir,
  readRunTarget,
  recordRunTarget,
  setRunRoot,
} from '../../src/engine/run-dir.js';
import { runCommand } from '../../src/exec/run-command.js';
import { requireRoot } from './helpers/host-images.js';

let work: string;
let root: string;
const children: number[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A run directory whose owner process is dead (a crashed backup). */
async function deadRun(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { mode: 0o700 });
  const gone = spawn('true');
  await new Promise((r) => gone.on('exit', r));
  await writeFile(join(dir, 'owner'), JSON.stringify({ pid: gone.pid, startTime: '1' }));
  return dir;
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-reaper-'));
  root = join(work, 'run');
  await mkdir(root);
  setRunRoot(root);
});

afterAll(async () => {
  for (const pid of children) if (alive(pid)) process.kill(pid, 'SIGKILL');
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mounts.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(work)) await runCommand('umount', ['-l', mp]).catch(() => undefined);
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('reap on the host (no LVM here: processes, mounts, run directories)', () => {
  it('ends our tar in a dead run, unmounts, removes the run dir, and spares everything else', async () => {
    const dead = await deadRun('20261126T000000Z-deadbeef');
    const mnt = join(dead, 'p1');
    await mkdir(mnt, { mode: 0o700 });
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    await runCommand('mkfifo', [join(mnt, 'fifo')]);
    // A tar that blocks reading the fifo, cwd inside the mount: holds it busy like a real one.
    const tar = spawn('tar', ['-cf', '/dev/null', '--directory=' + mnt, 'fifo'], {
      cwd: mnt,
      stdio: 'ignore',
    });
    const stuckTar = spawn('tar', ['-xf', join(mnt, 'fifo')], { cwd: mnt, stdio: 'ignore' });
    // Not ours: a program of another name in the dir, and a tar elsewhere.
    const sleeper = spawn('sleep', ['300'], { cwd: mnt, stdio: 'ignore' });
    const otherTar = spawn('tar', ['-xf', '-'], { cwd: work, stdio: ['pipe', 'ignore', 'ignore'] });
    for (const c of [tar, stuckTar, sleeper, otherTar]) children.push(c.pid as number);
    await new Promise((r) => setTimeout(r, 300));

    // A live run (owned by this process) with a mount must be left alone.
    const live = await createRunDir('20261126T000001Z-0000live');
    const liveMnt = join(live, 'p1');
    await mkdir(liveMnt);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', liveMnt]);

    const result = await reap();
    expect(result.errors).toEqual([]);
    const kinds = result.removed.map((r) => `${r.kind}:${r.name.replace(/\[\d+\]/, '')}`);
    expect(kinds).toContain('process:tar');
    expect(kinds).toContain(`mount:${mnt}`);
    expect(kinds).toContain(`dir:${dead}`);
    expect(kinds.some((k) => k.includes(live))).toBe(false);
    expect(existsSync(dead)).toBe(false);
    expect(alive(stuckTar.pid as number)).toBe(false);
    expect(alive(sleeper.pid as number)).toBe(true);
    expect(alive(otherTar.pid as number)).toBe(true);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(mnt);
    expect(mounts).toContain(liveMnt);

    await runCommand('umount', [liveMnt]);
    const again = await reap();
    expect(again.removed).toEqual([]);
  });

  it("ends a dead run's appliance processes by their environment marker and removes the libguestfs directories they name", async () => {
    const dead = await deadRun('20261202T000000Z-0appl1ce');
    const live = await createRunDir('20261202T000001Z-1appl1ce');
    // Stand-ins for guestfish and qemu: a shell naming a libguestfs temporary directory in
    // its arguments (as qemu does), its sleep child (inheriting the marker, as qemu does).
    const temp = join(work, 'libguestfsAbC123');
    await mkdir(temp);
    await writeFile(join(temp, 'overlay1.qcow2'), 'overlay');
    const spawnMarked = (runDir: string | null) =>
      spawn('sh', ['-c', 'sleep 300; : "$0"', `file=${temp}/overlay1.qcow2`], {
        cwd: work,
        stdio: 'ignore',
        env:
          runDir === null
            ? { PATH: process.env['PATH'] }
            : { PATH: process.env['PATH'], CLB_APPLIANCE_RUN_DIR: runDir },
      });
    const ours = spawnMarked(dead);
    const liveOnes = spawnMarked(live);
    const unmarked = spawnMarked(null);
    for (const c of [ours, liveOnes, unmarked]) children.push(c.pid as number);
    await new Promise((r) => setTimeout(r, 300));

    const result = await reap();
    expect(result.errors).toEqual([]);
    const kinds = result.removed.map((r) => `${r.kind}:${r.name.replace(/\[\d+\]/, '')}`);
    // The shell, its sleep: both carry the marker.
    expect(kinds.filter((k) => k.startsWith('process:')).sort()).toEqual([
      'process:sh',
      'process:sleep',
    ]);
    expect(kinds).toContain(`tempdir:${temp}`);
    expect(kinds).toContain(`dir:${dead}`);
    expect(alive(ours.pid as number)).toBe(false);
    expect(existsSync(temp)).toBe(false);
    expect(alive(liveOnes.pid as number)).toBe(true);
    expect(alive(unmarked.pid as number)).toBe(true);
    expect(existsSync(live)).toBe(true);
    await rm(live, { recursive: true });
  });

  it("removes a dead restore's run directory with the target it named (its maps: guest only)", async () => {
    const dead = await deadRun('restore-0badcafe');
    const target = {
      realPath: '/dev/mapper/cinder--volumes-volume--x',
      dmName: 'cinder--volumes-volume--x',
    };
    await recordRunTarget(dead, target);
    expect(await readRunTarget(dead)).toEqual(target);
    await writeFile(join(dead, 'target'), JSON.stringify({ realPath: 'x;rm', dmName: 'y' }));
    expect(await readRunTarget(dead)).toBeNull();
    await recordRunTarget(dead, target);
    const result = await reap();
    expect(result.errors).toEqual([]);
    expect(result.removed).toEqual([{ kind: 'dir', name: dead }]);
    expect(existsSync(dead)).toBe(false);
  });
});
