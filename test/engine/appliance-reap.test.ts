/**
 * The agent killed mid-archive with isolation `appliance`: guestfish, the appliance's qemu
 * (TCG here: slow) and libguestfs's temporary directories must not outlive the reap. A
 * child process runs the real `backupDevice` and freezes itself once tar-out streams
 * (like the crash-test hook, which has no point inside a guestfish tar-out); the test
 * records the child's descendants and the libguestfs directories their command lines name,
 * SIGKILLs the child, runs `reap()` and checks that none of them is left.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestfishVersion } from '../../src/engine/appliance.js';
import { readProcessInfo, readProcessStartTime } from '../../src/engine/proc-io.js';
import { reap } from '../../src/engine/reaper.js';
import { runRoot, setRunRoot } from '../../src/engine/run-dir.js';
import { runCommand } from '../../src/exec/run-command.js';
import { attach, detachAll, requireRoot } from './helpers/host-images.js';

const ROOT = join(import.meta.dirname, '..', '..');
let work: string;
let image: string;

beforeAll(async () => {
  requireRoot();
  // Fails loudly (TOOL_MISSING) where guestfish is not installed.
  await guestfishVersion();
  work = await mkdtemp(join(tmpdir(), 'clb-appliance-reap-'));
  setRunRoot(join(work, 'run'));
  // ext4 with 96 MiB of random files: tar-out streams for a while under TCG.
  image = join(work, 'ext4.img');
  await runCommand('truncate', ['-s', '160M', image]);
  await runCommand('mkfs.ext4', ['-q', '-F', '-L', 'busy', image]);
  const dev = await attach(image, false);
  const mnt = join(work, 'mnt');
  await mkdir(mnt);
  await runCommand('mount', [dev, mnt]);
  try {
    for (const n of [1, 2, 3]) {
      await runCommand('dd', [
        'if=/dev/urandom',
        `of=${join(mnt, `random-${n}.bin`)}`,
        'bs=1M',
        'count=32',
        'status=none',
      ]);
    }
  } finally {
    await runCommand('umount', [mnt]);
    await detachAll();
  }
}, 120_000);

afterAll(async () => {
  await detachAll();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Parent pid of a process (field 4 of /proc/<pid>/stat), or null when gone. */
async function parentOf(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every live descendant of `root`, with its name and command line. */
async function descendants(root: number): Promise<{ pid: number; comm: string; args: string[] }[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = await parentOf(Number(name));
    if (ppid !== null) parents.set(Number(name), ppid);
  }
  const out: { pid: number; comm: string; args: string[] }[] = [];
  for (const pid of parents.keys()) {
    let p: number | undefined = parents.get(pid);
    while (p !== undefined && p !== root && p > 1) p = parents.get(p);
    if (p !== root) continue;
    const info = await readProcessInfo(pid);
    if (info) out.push({ pid, comm: info.comm, args: info.args });
  }
  return out;
}

/** The libguestfs temporary directories (`.../libguestfsXXXXXX`) named in command lines. */
function libguestfsDirs(args: string[]): string[] {
  const dirs = new Set<string>();
  for (const a of args) {
    for (const m of a.matchAll(/(\/[^\s,=:]*?\/libguestfs[A-Za-z0-9]{6})(?=\/|$|,)/g)) {
      dirs.add(m[1] as string);
    }
  }
  return [...dirs];
}

describe('reap after the agent is killed mid-archive with isolation appliance', () => {
  it(
    'leaves no guestfish, no qemu and no libguestfs temporary directory of the killed run',
    async () => {
      const dev = await attach(image, true);
      const ready = join(work, 'ready');
      const script = `
      import { writeFileSync } from 'node:fs';
      import { setRunRoot } from ${JSON.stringify(join(ROOT, 'src/engine/run-dir.ts'))};
      import { backupDevice } from ${JSON.stringify(join(ROOT, 'src/engine/backup-device.ts'))};
      setRunRoot(${JSON.stringify(runRoot())});
      await backupDevice({
        device: ${JSON.stringify(dev)},
        dest: ${JSON.stringify(join(work, 'dest'))},
        isolation: 'appliance',
        onProgress: (p) => {
          // Past the 1 MiB head: tar-out is streaming into zstd. Freeze until killed.
          if (p.phase === 'archive p0' && p.bytesDone > (1 << 20) + (4 << 20)) {
            writeFileSync(${JSON.stringify(ready)}, String(process.pid));
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
          }
        },
      });
      process.stdout.write('finished\\n');
    `;
      const child = execa('node', ['--import', 'tsx', '--input-type=module', '-e', script], {
        reject: false,
        cwd: ROOT,
      });
      const until = Date.now() + 15 * 60_000;
      while (!existsSync(ready) && child.exitCode === null && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const childPid = child.pid as number;
      expect(existsSync(ready), `the child never reached tar-out: ${String(child.exitCode)}`).toBe(
        true,
      );
      expect(readFileSync(ready, 'utf8')).toBe(String(childPid));

      // What the killed agent leaves running: guestfish, its qemu, tar-out's zstd.
      // (esbuild is tsx's compiler, the test harness's, not the backup's.)
      const left = (await descendants(childPid)).filter((p) => p.comm !== 'esbuild');
      const comms = left.map((p) => p.comm);
      expect(comms).toContain('guestfish');
      expect(comms.some((c) => c.startsWith('qemu'))).toBe(true);
      const tmpDirs = left.flatMap((p) => libguestfsDirs(p.args));
      expect(tmpDirs.length).toBeGreaterThan(0);
      for (const d of tmpDirs) expect(existsSync(d)).toBe(true);
      process.stderr.write(
        `appliance-reap: before the kill: ${left.map((p) => `${p.comm}[${p.pid}]`).join(' ')}; libguestfs dirs: ${tmpDirs.join(' ')}\n`,
      );

      child.kill('SIGKILL');
      const r = await child;
      expect(r.signal).toBe('SIGKILL');

      const started = Date.now();
      const reaped = await reap();
      process.stderr.write(
        `appliance-reap: reap took ${Date.now() - started} ms: ${JSON.stringify(reaped)}\n`,
      );
      expect(reaped.errors).toEqual([]);
      const alive: string[] = [];
      for (const p of left) {
        if ((await readProcessStartTime(p.pid)) !== null) alive.push(`${p.comm}[${p.pid}]`);
      }
      expect(alive).toEqual([]);
      expect(tmpDirs.filter((d) => existsSync(d))).toEqual([]);
      expect(existsSync(runRoot()) ? await readdir(runRoot()) : []).toEqual([]);
    },
    20 * 60_000,
  );
});
