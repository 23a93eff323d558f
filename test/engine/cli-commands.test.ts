/**
 * The backup, verify and reap commands as a user runs them (a child process through tsx),
 * on the host with loop devices: the --json contract, exit codes, and a SIGKILLed backup
 * whose leftovers `reap` removes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { attach, detach, detachAll, makeGptImage, requireRoot } from './helpers/host-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
let work: string;
let runRoot: string;
let image: string;

async function cli(
  args: string[],
): Promise<{ code: number; json: Record<string, unknown> | null; stderr: string }> {
  const r = await runCommand('npx', ['tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    okExitCodes: [0, 1, 2],
    env: { CLB_RUN_DIR: runRoot },
  });
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { code: r.exitCode, json, stderr: r.stderr };
}

/** Whether any process on the host sees a mount under `root` (all mount namespaces). */
async function mountedAnywhere(root: string): Promise<boolean> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if ((await readFile(`/proc/${pid}/mountinfo`, 'utf8')).includes(root)) return true;
    } catch {
      // the process ended meanwhile
    }
  }
  return false;
}

beforeAll(async () => {
  requireRoot();
  work = await mkdtemp(join(tmpdir(), 'clb-cli-'));
  runRoot = join(work, 'run');
  image = (await makeGptImage(join(work, 'img'))).image;
}, 120_000);

afterAll(async () => {
  await detachAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('backup / verify / reap commands', () => {
  it('prints one JSON object with status, manifest and backupId, and verify accepts it', async () => {
    const dev = await attach(image, true);
    const r = await cli(['backup', '--device', dev, '--dest', join(work, 'dest'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({
      status: 'ok',
      backupId: expect.stringMatching(/^\d{8}T\d{6}Z-/) as unknown,
    });
    const manifest = r.json?.['manifest'] as string;
    expect(existsSync(manifest)).toBe(true);
    const v = await cli(['verify', '--manifest', manifest, '--json']);
    expect(v.code).toBe(0);
    expect(v.json?.['status']).toBe('ok');
    await detach(dev);
  }, 60_000);

  it('fails with a stable code, a message and exit 1; bad usage exits 2', async () => {
    const r = await cli([
      'backup',
      '--device',
      '/dev/nonexistent',
      '--dest',
      join(work, 'x'),
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ status: 'failed', error: { code: 'DEVICE_NOT_FOUND' } });
    const plain = await cli(['backup', '--lv', 'vg/$(reboot)', '--dest', join(work, 'x')]);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: INVALID_LV_NAME: /),
    ]);
    const usage = await cli(['backup', '--device', '/dev/null']);
    expect(usage.code).toBe(2);
  }, 60_000);

  it('reap removes the mounts and run directory of a SIGKILLed backup; the next backup succeeds', async () => {
    // A bigger filesystem so the backup is still archiving when it is killed.
    const big = join(work, 'big.img');
    await runCommand('truncate', ['-s', '400M', big]);
    await runCommand('mkfs.ext4', ['-q', big]);
    const mnt = join(work, 'bigmnt');
    await mkdir(mnt);
    await runCommand('mount', [big, mnt]);
    await runCommand('bash', [
      '-c',
      'for i in 1 2 3 4 5 6; do head -c 50M /dev/urandom > "$1/f$i"; done',
      'fill',
      mnt,
    ]);
    await runCommand('umount', [mnt]);
    const dev = await attach(big, true);
    const child = spawn(
      'npx',
      ['tsx', 'src/cli.ts', 'backup', '--device', dev, '--dest', join(work, 'kdest'), '--json'],
      {
        cwd: ROOT,
        env: { ...process.env, CLB_RUN_DIR: runRoot },
        stdio: 'ignore',
      },
    );
    // Wait until the backup has its mount (inside the job's private mount namespace, so it
    // is looked for in every process's view), then kill the whole process group hard.
    let mounted = false;
    for (let i = 0; i < 300 && !mounted; i++) {
      await new Promise((res) => setTimeout(res, 100));
      mounted = await mountedAnywhere(runRoot);
    }
    expect(mounted).toBe(true);
    // The host's own view never sees it.
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(runRoot);
    const pids = (
      await runCommand('pgrep', ['-f', `src/cli.ts backup --device ${dev}`], {
        okExitCodes: [0, 1],
      })
    ).stdout
      .split('\n')
      .filter(Boolean)
      .map(Number);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await new Promise((res) => child.on('exit', res));
    await new Promise((res) => setTimeout(res, 300));
    // The namespace's holder outlives the killed backup and keeps the mount alive.
    expect(await mountedAnywhere(runRoot)).toBe(true);

    const r = await cli(['reap', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const kinds = (r.json?.['removed'] as { kind: string }[]).map((x) => x.kind);
    // Ending the holder ends the namespace, and the kernel drops its mounts with it.
    expect(kinds).toContain('process');
    expect(kinds).toContain('dir');
    expect(await mountedAnywhere(runRoot)).toBe(false);
    expect(await readdir(runRoot)).toEqual([]);
    // What the killed run wrote stays an unfinished "<id>.partial", never a backup.
    const dirs = await readdir(join(work, 'kdest', dev.replace('/dev/', '')));
    expect(dirs.length).toBeGreaterThan(0);
    expect(dirs.every((d) => d.endsWith('.partial'))).toBe(true);
    // The next backup of the same source succeeds and sweeps the dead run's work directory.
    const again = await cli(['backup', '--device', dev, '--dest', join(work, 'kdest'), '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(await readdir(join(work, 'kdest', dev.replace('/dev/', '')))).toEqual([
      again.json?.['backupId'],
    ]);
    await detach(dev);
  }, 120_000);
});
