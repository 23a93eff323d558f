/**
 * fsfreeze inside an "instance" (a real sshd on a loopback port, as root on this host) on a
 * real ext4 filesystem on a loop device: a writer is blocked while the snapshot step runs
 * and resumes after the thaw; a session that dies mid-freeze is thawed by the guard within
 * its bound; a freeze that fails thaws what it froze.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeze } from '../../src/consistency/fsfreeze.js';
import { prepareSsh, type SshEndpoint } from '../../src/consistency/ssh-session.js';
import { runCommand } from '../../src/exec/run-command.js';
import { captureLog } from './helpers/log-capture.js';
import { startSshd, type SshdInstance } from './helpers/sshd-instance.js';

let sshd: SshdInstance;
let work: string;
let loop: string | null = null;
let mnt: string;
let ep: SshEndpoint;
const logs = captureLog();

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('fsfreeze tests need root (loop device, mount)');
  work = await mkdtemp(join(tmpdir(), 'clb-freeze-'));
  const image = join(work, 'fs.img');
  await runCommand('truncate', ['-s', '64M', image]);
  await runCommand('mkfs.ext4', ['-q', '-F', image]);
  loop = (await runCommand('losetup', ['-f', '--show', image])).stdout.trim();
  mnt = join(work, 'mnt');
  await mkdir(mnt);
  await runCommand('mount', [loop, mnt]);
  sshd = await startSshd();
  const runDir = join(work, 'run');
  await mkdir(runDir, { mode: 0o700 });
  ep = await prepareSsh(sshd.target(), runDir);
}, 120_000);

afterAll(async () => {
  await runCommand('fsfreeze', ['-u', mnt], { okExitCodes: [0, 1] }).catch(() => undefined);
  await runCommand('umount', [mnt]).catch(() => undefined);
  if (loop) await runCommand('losetup', ['-d', loop]).catch(() => undefined);
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Starts a small write into the filesystem; resolves when it is on disk. */
function writer(name: string): { done: ResultPromise; finished: () => boolean } {
  let finished = false;
  const done = execa(
    'dd',
    ['if=/dev/zero', `of=${join(mnt, name)}`, 'bs=4k', 'count=4', 'conv=fsync'],
    {
      reject: false,
    },
  );
  void done.then(() => (finished = true));
  return { done, finished: () => finished };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Processes on this host whose command line contains `text`. */
async function processes(text: string): Promise<string[]> {
  const r = await runCommand('ps', ['-ww', '-eo', 'pid,args']);
  return r.stdout.split('\n').filter((l) => l.includes(text) && !l.includes('ps -eo'));
}

/** Milliseconds until a write into the filesystem completes (it blocks while frozen). */
async function msUntilWritable(name: string, limitMs: number): Promise<number> {
  const t0 = Date.now();
  const w = writer(name);
  while (!w.finished() && Date.now() - t0 < limitMs) await sleep(50);
  if (!w.finished()) w.done.kill('SIGKILL');
  return Date.now() - t0;
}

describe('fsfreeze over ssh', () => {
  it('keeps the filesystem frozen while the snapshot step runs: a writer blocks, then resumes', async () => {
    const session = await freeze({
      endpoint: ep,
      mountpoints: [mnt],
      boundSeconds: 10,
      setupTimeoutMs: 30_000,
      logger: logs.logger,
    });
    const w = writer('during');
    // The "snapshot": a second of frozen time in which the writer must not get through.
    await sleep(1500);
    expect(w.finished()).toBe(false);
    const thawed = await session.thaw();
    expect(thawed.error).toBeNull();
    expect(thawed.windowMs).toBeGreaterThanOrEqual(1500);
    expect(thawed.windowMs).toBeLessThan(10_000);
    const r = await w.done;
    expect(r.exitCode).toBe(0);
    expect((await readFile(join(mnt, 'during'))).length).toBe(16384);
    // The guard was stopped with the thaw: nothing of ours is left in the instance.
    expect(await processes('clb-thaw-guard')).toEqual([]);
  }, 60_000);

  it('thaws within the bound when the session in the instance is killed mid-freeze', async () => {
    const bound = 4;
    const session = await freeze({
      endpoint: ep,
      mountpoints: [mnt],
      boundSeconds: bound,
      setupTimeoutMs: 30_000,
      logger: logs.logger,
    });
    const t0 = session.frozenAt;
    // The freeze script's shell (its text holds the marker), not the guard: only the guard
    // can thaw now.
    console.log('PS', (await processes('clb')).join('\n'));
    const script = (await processes('clb-frozen')).filter((l) =>
      // The session mark's line comes first (spawnSsh); ps shows the newline as one character.
      /^\s*\d+ (?:ba|da)?sh -c printf '%s\\n' clb-session-open >&2.sync /.test(l),
    );
    expect(script.length).toBeGreaterThan(0);
    for (const l of script) await runCommand('kill', ['-KILL', l.trim().split(/\s+/)[0] as string]);
    const waited = await msUntilWritable('after-kill', 20_000);
    const sinceFreeze = Date.now() - t0;
    expect(sinceFreeze).toBeLessThan((bound + 3) * 1000);
    expect(sinceFreeze).toBeGreaterThanOrEqual(bound * 1000 - 500);
    expect(waited).toBeLessThan(20_000);
    const thawed = await session.thaw();
    expect(thawed.error?.code).toBe('FREEZE_FAILED');
    await sleep(500);
    expect(await processes('clb-thaw-guard')).toEqual([]);
  }, 60_000);

  it('thaws at once when the agent side (the ssh client) dies mid-freeze', async () => {
    const session = await freeze({
      endpoint: ep,
      mountpoints: [mnt],
      boundSeconds: 10,
      setupTimeoutMs: 30_000,
      logger: logs.logger,
    });
    const clients = (await processes(`-F ${ep.configFile}`)).filter((l) => /^\s*\d+ ssh /.test(l));
    expect(clients.length).toBe(1);
    await runCommand('kill', ['-KILL', clients[0]?.trim().split(/\s+/)[0] as string]);
    const waited = await msUntilWritable('after-client-kill', 15_000);
    // Well before the 10 s guard: the script saw its stdin end and thawed.
    expect(waited).toBeLessThan(5_000);
    const thawed = await session.thaw();
    expect(thawed.error).not.toBeNull();
  }, 60_000);

  it('thaws what it froze when another mount point cannot be frozen', async () => {
    const err = await freeze({
      endpoint: ep,
      mountpoints: [mnt, '/clb-not-a-mount-point'],
      boundSeconds: 10,
      setupTimeoutMs: 30_000,
      logger: logs.logger,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: 'FREEZE_FAILED',
      message: expect.stringMatching(/fsfreeze -f failed/) as string,
    });
    expect(await msUntilWritable('after-failed-freeze', 5_000)).toBeLessThan(3_000);
    expect(await processes('clb-thaw-guard')).toEqual([]);
  }, 60_000);
});
