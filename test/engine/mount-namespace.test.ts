/**
 * The job's private mount namespace on the host: a mount made inside is invisible to the
 * node's mount table yet readable through the holder's /proc root; after a crash (the
 * owner gone, the holder left running) the reaper ends the holder and the mount is gone.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setRunRoot } from '../../src/engine/run-dir.js';
import { filesystemFigures, mountReadOnly, unmountAndRemove } from '../../src/engine/mounts.js';
import { openMountNamespace } from '../../src/engine/mount-namespace.js';
import { reap } from '../../src/engine/reaper.js';
import { runCommand } from '../../src/exec/run-command.js';
import { requireRoot } from './helpers/host-images.js';

let work: string;
let root: string;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function hostMounts(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8');
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-mntns-'));
  root = join(work, 'run');
  await mkdir(root);
  setRunRoot(root);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the private mount namespace of a job', () => {
  it('keeps its mounts out of the node and readable by the job', async () => {
    const runDir = join(root, 'live');
    await mkdir(runDir, { mode: 0o700 });
    const ns = await openMountNamespace(runDir);
    try {
      const mnt = join(runDir, 'p1');
      // A tmpfs stands in for the tenant's filesystem (no loop image needed).
      await mountReadOnly('tmpfs', mnt, 'tmpfs', ['size=1m'], {}, ns);
      expect(await hostMounts()).not.toContain(mnt);
      const inside = await readFile(`/proc/${ns.pid}/mountinfo`, 'utf8');
      expect(inside).toContain(mnt);
      const fig = await filesystemFigures(mnt, ns);
      expect(fig.fsSizeBytes).toBe(1024 * 1024);
      await unmountAndRemove(mnt, {}, false, ns);
      expect(existsSync(mnt)).toBe(false);
    } finally {
      await ns.close();
    }
    expect(alive(ns.pid)).toBe(false);
    await rm(runDir, { recursive: true });
  });

  it('is ended by the reaper after a crash, which drops its mounts', async () => {
    const runDir = join(root, '20261201T000000Z-crashed0');
    await mkdir(runDir, { mode: 0o700 });
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    await writeFile(join(runDir, 'owner'), JSON.stringify({ pid: gone.pid, startTime: '1' }));
    const ns = await openMountNamespace(runDir);
    const mnt = join(runDir, 'p1');
    await mkdir(mnt, { mode: 0o700 });
    const mount = ns.wrap('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    await runCommand(mount.program, mount.args);
    // Another sleep in the run dir that is not a holder is not ours.
    const bystander = spawn('sleep', ['300'], { cwd: runDir, stdio: 'ignore' });
    try {
      const result = await reap();
      expect(result.errors).toEqual([]);
      expect(result.removed.map((r) => `${r.kind}:${r.name.replace(/\[\d+\]/, '')}`)).toEqual(
        expect.arrayContaining(['process:sleep', `dir:${runDir}`]),
      );
      expect(alive(ns.pid)).toBe(false);
      expect(alive(bystander.pid as number)).toBe(true);
      expect(existsSync(runDir)).toBe(false);
    } finally {
      bystander.kill('SIGKILL');
      await ns.close();
    }
  });
});
