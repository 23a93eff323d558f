/**
 * The destination fails under `backup --device` run by hand through the real CLI (a child
 * process, as an operator runs it): it fills up, is read-only, is unmounted mid-write
 * (`umount -l` while the archive is open), is a filesystem that answers mkdir with ENOENT
 * although the parent exists (procfs), and blocks every write (`fsfreeze --freeze`) while
 * the command is stopped with SIGTERM.
 *
 * The source is an ext4 loop device holding 40 MB of random data; the destination an ext4
 * loop filesystem that already holds one good backup of it.
 *
 * For each fault: the command ends by itself (none hangs) with the reason as a stable code
 * (DEST_FULL, DEST_NOT_WRITABLE, DEST_GONE, ABORTED); no `.partial` file or directory is
 * left on the destination (for the unmounted one: on the filesystem once mounted again);
 * the only backup directory is the older one, every file of it unchanged (checksum and
 * mtime); the run directory, the mounts and the children of the command are gone.
 *
 * A write that blocks in the kernel (a frozen filesystem) cannot be interrupted by any
 * signal: the process exits when the write returns. What SIGTERM must do is stop everything
 * else at once (tar, zstd, the mount namespace holder stay only as long as the frozen write)
 * and end the command as soon as the filesystem answers again. Measured: the time from
 * SIGTERM until the command's programs (tar, zstd) are gone, and from the thaw to the exit.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopDevices } from '../engine/helpers/loop-devices.js';
import { printFigures, waitUntil } from './figures.js';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'clb-rel-dest-'));
const devices = new LoopDevices(work);
const runDir = join(work, 'run');
const dest = join(work, 'dest');
let source = '';
let destDevice = '';
let frozen = false;

/** Longest any one command may take before the scenario counts it as hung. */
const HANG_MS = 60_000;

type Cli = ResultPromise<{ reject: false; timeout: number; killSignal: 'SIGKILL' }>;

function backup(to: string): Cli {
  return execa(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'backup', '--device', source, '--dest', to, '--json'],
    {
      cwd: ROOT,
      env: { CLB_RUN_DIR: runDir, CLB_LOG_LEVEL: 'warn' },
      reject: false,
      timeout: HANG_MS,
      killSignal: 'SIGKILL',
    },
  );
}

interface Outcome {
  exitCode: number | undefined;
  timedOut: boolean;
  code: string | null;
  ms: number;
}

async function outcomeOf(cli: Cli, t0: number): Promise<Outcome> {
  const r = await cli;
  let code: string | null = null;
  try {
    const json = JSON.parse(r.stdout) as { status: string; error?: { code?: string } };
    code = json.status === 'ok' ? 'ok' : (json.error?.code ?? null);
  } catch {
    code = null;
  }
  return { exitCode: r.exitCode, timedOut: r.timedOut, code, ms: Date.now() - t0 };
}

/** Every file under `dir` (relative path) with its sha256 and mtime. */
async function fingerprint(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const st = await stat(path);
    if (!st.isFile()) continue;
    const sum = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
    out.set(name, `${sum} ${st.mtimeMs}`);
  }
  return out;
}

/** Paths under `dir` whose name ends in `.partial`. */
async function partials(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.endsWith('.partial')).map((n) => join(dir, n));
}

/** Directories holding a manifest.json: what would count as a backup. */
async function backupDirs(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return names.filter((n) => n.endsWith('/manifest.json')).sort();
}

/** Process ids of the children of `pid` (and theirs). */
async function descendants(pid: number): Promise<number[]> {
  const r = await execa('ps', ['-e', '-o', 'pid=,ppid='], { reject: false });
  const parents = new Map<number, number[]>();
  for (const line of r.stdout.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined || Number.isNaN(p)) continue;
    parents.set(pp, [...(parents.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const kids = parents.get(todo.pop() as number) ?? [];
    out.push(...kids);
    todo.push(...kids);
  }
  return out;
}

/** Waits for the archive's first `.partial` file under `dir` to hold data. */
async function archiveWriting(dir: string): Promise<void> {
  await waitUntil(
    'the archive is being written',
    async () => {
      for (const p of await partials(dir).catch(() => [])) {
        if (p.endsWith('.tar.zst.partial') && (await stat(p).catch(() => null))?.size) return true;
      }
      return false;
    },
    30_000,
    20,
  );
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this scenario needs root (loop devices, mounts)');
  source = await devices.create(64, 'source');
  await execa('mkfs.ext4', ['-q', '-L', 'rel-src', source]);
  const edit = join(work, 'edit');
  await devices.mount(source, edit);
  await execa('head', ['-c', '40000000', '/dev/urandom'], {
    stdout: { file: join(edit, 'random.bin') },
  });
  await writeFile(join(edit, 'small.txt'), 'kept\n');
  await devices.umount(edit);
  destDevice = await devices.create(200, 'dest');
  await execa('mkfs.ext4', ['-q', '-L', 'rel-dest', destDevice]);
  await devices.mount(destDevice, dest);
}, 60_000);

afterAll(async () => {
  if (frozen) await execa('fsfreeze', ['--unfreeze', dest], { reject: false });
  await devices.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('destination faults under backup --device (CLI)', () => {
  it('fails with the reason, keeps nothing partial, leaves older backups alone, never hangs', async () => {
    // The procfs fault touches nothing of the others: it runs beside the first backup.
    const t00 = Date.now();
    const [first, proc] = await Promise.all([
      outcomeOf(backup(dest), t00),
      outcomeOf(backup('/proc/clb-reliability/x'), t00),
    ]);
    expect(first).toMatchObject({ exitCode: 0, code: 'ok' });
    const older = await backupDirs(dest);
    expect(older).toHaveLength(1);
    const olderDir = join(dest, (older[0] as string).replace(/\/manifest\.json$/, ''));
    const before = await fingerprint(olderDir);

    const results: string[] = [];
    let hung = 0;
    let partialKept = 0;
    let olderTouched = 0;
    let sigtermMs = 0;
    const check = async (fault: string, o: Outcome, expected: string): Promise<void> => {
      if (o.timedOut) hung += 1;
      const left = await partials(dest);
      partialKept += left.length;
      const after = await fingerprint(olderDir).catch(() => new Map<string, string>());
      const touched = [...before].filter(([k, v]) => after.get(k) !== v).length;
      olderTouched += touched + (after.size === before.size ? 0 : 1);
      results.push(`${fault} ${o.code ?? '?'} ${(o.ms / 1000).toFixed(1)} s`);
      expect(o, fault).toMatchObject({ timedOut: false, exitCode: 1, code: expected });
      expect(left, fault).toEqual([]);
      expect(await backupDirs(dest), fault).toEqual(older);
      expect(touched, fault).toBe(0);
      expect(after.size, fault).toBe(before.size);
      // The command's run directory is removed; nothing of it stays mounted.
      expect(await readdir(runDir).catch(() => []), fault).toEqual([]);
      expect(await readFile('/proc/self/mountinfo', 'utf8'), fault).not.toContain(runDir);
    };

    // 1. Full: a filler leaves 20 MB, less than the 40 MB of incompressible data.
    const { stdout: avail } = await execa('df', ['--output=avail', '-B1', dest]);
    const filler = join(dest, 'filler.bin');
    await execa('fallocate', ['-l', String(Number(avail.split('\n')[1]) - 20e6), filler]);
    let t0 = Date.now();
    await check('full', await outcomeOf(backup(dest), t0), 'DEST_FULL');
    await rm(filler);

    // 2. Read-only.
    await execa('mount', ['-o', 'remount,ro', dest]);
    t0 = Date.now();
    const ro = await outcomeOf(backup(dest), t0);
    await execa('mount', ['-o', 'remount,rw', dest]);
    await check('read-only', ro, 'DEST_NOT_WRITABLE');

    // 3. Unmounted while the archive is written (lazily: the open files keep it alive).
    t0 = Date.now();
    const removing = backup(dest);
    await archiveWriting(dest);
    await execa('umount', ['-l', dest]);
    const removed = await outcomeOf(removing, t0);
    // Once the disk is back, nothing of the run is on it.
    await execa('mount', [destDevice, dest]);
    await check('removed', removed, 'DEST_GONE');

    // 4. procfs (run above): mkdir answers ENOENT although /proc exists.
    if (proc.timedOut) hung += 1;
    results.push(`procfs-mkdir ${proc.code ?? '?'} ${(proc.ms / 1000).toFixed(1)} s`);
    expect(proc).toMatchObject({ timedOut: false, exitCode: 1, code: 'DEST_NOT_WRITABLE' });

    // 5. Every write blocks (frozen filesystem); SIGTERM while it does.
    t0 = Date.now();
    const blocked = backup(dest);
    const pid = blocked.pid as number;
    await archiveWriting(dest);
    await execa('fsfreeze', ['--freeze', dest]);
    frozen = true;
    const kids = await descendants(pid);
    expect(kids.length).toBeGreaterThan(0);
    const termAt = Date.now();
    process.kill(pid, 'SIGTERM');
    // tar and zstd (and anything else the command started that is not stuck in the
    // frozen write) stop at once.
    const stopMs = await waitUntil(
      'the programs of the stopped backup are gone',
      async () => {
        const now = await descendants(pid);
        const names = await Promise.all(
          now.map((p) => readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')),
        );
        return !names.some((n) => /^(tar|zstd)\b/.test(n.trim()));
      },
      10_000,
      50,
    );
    // The frozen filesystem is the fault: it lasts 3 s more, then is thawed.
    await new Promise((r) => setTimeout(r, 3000));
    const thawAt = Date.now();
    await execa('fsfreeze', ['--unfreeze', dest]);
    frozen = false;
    const stopped = await outcomeOf(blocked, t0);
    const exitAfterThawMs = Date.now() - thawAt;
    sigtermMs = Math.max(stopMs, exitAfterThawMs);
    results.push(
      `blocked-write+SIGTERM ${stopped.code ?? '?'}: programs gone ${(stopMs / 1000).toFixed(1)} s after SIGTERM, exit ${(exitAfterThawMs / 1000).toFixed(1)} s after thaw`,
    );
    expect(termAt).toBeLessThan(thawAt);
    await check('blocked-write', stopped, 'ABORTED');
    // Nothing the command started outlives it (tar, zstd, the mount namespace holder).
    expect(kids.filter((p) => existsSync(`/proc/${p}`))).toEqual([]);

    console.log(results.join('\n'));
    printFigures(
      'destination',
      `5 faults (full, read-only, removed, procfs-mkdir, blocked-write+SIGTERM), ` +
        `${partialKept} partial kept, ${olderTouched} older backups touched, ${hung} hung, ` +
        `SIGTERM: programs stopped in ${(stopMs / 1000).toFixed(1)} s, exit ${(exitAfterThawMs / 1000).toFixed(1)} s after the blocked write returned ` +
        `(${(sigtermMs / 1000).toFixed(1)} s max)`,
    );
  }, 150_000);
});
