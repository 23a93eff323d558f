/**
 * The reaper: after a crash (SIGKILL, power loss, OOM) it finds what a backup left behind
 * and removes it, newest layer first, reporting each thing:
 *   1. tar/zstd processes still reading from a dead run's directory, the holder of its
 *      private mount namespace, and the processes of its libguestfs appliance (guestfish,
 *      qemu, libguestfs's recovery process: marked in their environment with the run
 *      directory, see parse/appliance-leftovers.ts); only those: a dmeventd that inherited
 *      a backup's environment is not ours to kill. Ending them drops the namespace's mounts;
 *      then the libguestfs temporary directories the appliance's command lines named,
 *   2. mounts under dead run directories,
 *   3. kpartx maps of snapshots tagged `cinder_lvm_backup`, then the snapshots; the
 *      partition maps of a dead restore's target (the device its run directory names),
 *   4. the dead run directories.
 * A run whose owner process is alive is left alone, so reaping beside a running backup
 * is safe.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { kpartxDeleteArgs } from './args/device-args.js';
import { SERVICE_TAG } from './args/lvm-args.js';
import { listLvs, removeLvIfPresent } from './lvm.js';
import { mountsUnder, unmountAndRemove } from './mounts.js';
import { parseDmsetupLs } from './parse/dmsetup.js';
import { isKpartxMapOf } from './parse/kpartx.js';
import { dmNameOf } from './parse/lvm-names.js';
import { isApplianceOf, libguestfsTempDirs } from './parse/appliance-leftovers.js';
import { readProcessEnviron, readProcessInfo, readProcessStartTime } from './proc-io.js';
import { readRunTarget, removeRunDir, runDirOwnerAlive, runRoot } from './run-dir.js';
import { withBusyRetries } from './retry.js';
import { sleep } from '../lifecycle/sleep.js';

export type ReapedKind = 'process' | 'tempdir' | 'mount' | 'map' | 'snapshot' | 'dir';

export interface ReapResult {
  removed: { kind: ReapedKind; name: string }[];
  errors: { name: string; message: string }[];
}

/** Programs a backup starts that can outlive it. */
const OUR_PROGRAMS = new Set(['tar', 'zstd']);

/**
 * The holder of a job's private mount namespace (mount-namespace.ts): `sleep infinity`
 * started in the run directory itself. Once it and the tar inside are gone, the kernel
 * detaches the namespace's mounts, which frees the snapshot.
 */
function isNamespaceHolder(
  info: { comm: string; cwd: string | null; args: string[] },
  dirs: string[],
): boolean {
  return (
    info.comm === 'sleep' &&
    info.args.length === 2 &&
    info.args[1] === 'infinity' &&
    dirs.some((d) => info.cwd === d)
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function liveAndDeadRuns(root: string): Promise<{ live: Set<string>; dead: string[] }> {
  const live = new Set<string>();
  const dead: string[] = [];
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    if (await runDirOwnerAlive(join(root, e.name))) live.add(e.name);
    else dead.push(e.name);
  }
  return { live, dead };
}

function inside(path: string | null | undefined, dir: string): boolean {
  return path !== null && path !== undefined && (path === dir || path.startsWith(dir + '/'));
}

interface Leftovers {
  processes: { pid: number; comm: string }[];
  /** libguestfs temporary directories named by the command lines of a dead run's appliance. */
  tempDirs: string[];
}

async function processesIn(dirs: string[]): Promise<Leftovers> {
  const found: { pid: number; comm: string }[] = [];
  const tempDirs = new Set<string>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const info = await readProcessInfo(pid);
    if (!info) continue;
    if (isNamespaceHolder(info, dirs)) {
      found.push({ pid, comm: info.comm });
      continue;
    }
    const environ = dirs.length > 0 ? await readProcessEnviron(pid) : null;
    if (environ !== null && dirs.some((d) => isApplianceOf(environ, d))) {
      found.push({ pid, comm: info.comm });
      for (const t of libguestfsTempDirs(info.args)) tempDirs.add(t);
      continue;
    }
    if (!OUR_PROGRAMS.has(info.comm)) continue;
    const ours = dirs.some(
      (d) =>
        inside(info.cwd, d) ||
        info.args.some((a) => inside(a.replace(/^--(directory|file)=/, ''), d)),
    );
    if (ours) found.push({ pid, comm: info.comm });
  }
  return { processes: found, tempDirs: [...tempDirs] };
}

/** Whether `pid` still runs; a zombie has ended and only waits for its parent. */
async function alive(pid: number): Promise<boolean> {
  return (await readProcessStartTime(pid)) !== null;
}

/** Sends `signal`; a process that has ended meanwhile is not an error. */
function signalIfThere(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function endProcess(pid: number): Promise<void> {
  // An appliance's qemu ends with its guestfish (libguestfs's recovery process kills it):
  // by the time the reaper comes to it, it may be gone.
  signalIfThere(pid, 'SIGTERM');
  for (let i = 0; i < 30 && (await alive(pid)); i++) await sleep(100);
  if (await alive(pid)) signalIfThere(pid, 'SIGKILL');
  for (let i = 0; i < 30 && (await alive(pid)); i++) await sleep(100);
}

/** Removes a libguestfs temporary directory the killed appliance named, if still there. */
async function removeTempDir(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch(() => null);
  if (st === null) return false;
  // Named by qemu's own command line: a real directory, never a link to follow.
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  await rm(dir, { recursive: true });
  return true;
}

async function lvmAvailable(run: RunOptions): Promise<boolean> {
  try {
    await runCommand('dmsetup', ['version'], run);
    return true;
  } catch {
    return false;
  }
}

/** Finds and removes this service's leftovers. Never throws for one failed item. */
export async function reap(
  req: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<ReapResult> {
  const logger = (req.logger ?? silentLogger).child({ component: 'reaper' });
  const run: RunOptions = { logger, ...(req.signal ? { signal: req.signal } : {}) };
  const result: ReapResult = { removed: [], errors: [] };
  const attempt = async (name: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      logger.error({ name, err }, 'cannot remove leftover');
      result.errors.push({ name, message: message(err) });
    }
  };
  const removed = (kind: ReapedKind, name: string): void => {
    logger.info({ kind, name }, 'removed leftover');
    result.removed.push({ kind, name });
  };

  const root = runRoot();
  const { live, dead } = await liveAndDeadRuns(root);
  const deadDirs = dead.map((d) => join(root, d));

  // 1. Processes first: they hold the mounts busy. Then what the appliance's leave.
  const leftovers = await processesIn(deadDirs);
  for (const p of leftovers.processes) {
    await attempt(`${p.comm}[${p.pid}]`, async () => {
      await endProcess(p.pid);
      removed('process', `${p.comm}[${p.pid}]`);
    });
  }
  for (const dir of leftovers.tempDirs) {
    await attempt(dir, async () => {
      if (await removeTempDir(dir)) removed('tempdir', dir);
    });
  }

  // 2. Mounts under dead runs, deepest first.
  for (const dir of deadDirs) {
    for (const m of await mountsUnder(dir)) {
      await attempt(m.mountPoint, async () => {
        try {
          await unmountAndRemove(m.mountPoint, run);
        } catch (err) {
          logger.warn({ mountPoint: m.mountPoint, err }, 'umount failed; detaching lazily');
          await unmountAndRemove(m.mountPoint, run, true);
        }
        removed('mount', m.mountPoint);
      });
    }
  }

  // 3. Tagged snapshots of runs that are not alive, their maps first.
  if (await lvmAvailable(run)) {
    let lvs: Awaited<ReturnType<typeof listLvs>> = [];
    await attempt('lvs', async () => {
      lvs = await listLvs(run);
    });
    const dmNames = await runCommand('dmsetup', ['ls'], run)
      .then((r) => parseDmsetupLs(r.stdout))
      .catch(() => [] as string[]);
    for (const lv of lvs.filter((x) => x.tags.includes(SERVICE_TAG))) {
      const runTagValue = lv.tags.find((t) => t.startsWith('clb_run_'))?.slice('clb_run_'.length);
      if (runTagValue !== undefined && live.has(runTagValue)) continue;
      const full = `${lv.vg}/${lv.name}`;
      const dm = dmNameOf(lv.vg, lv.name);
      const maps = dmNames.filter((n) => isKpartxMapOf(dm, n));
      if (maps.length > 0) {
        await attempt(`maps of ${full}`, async () => {
          await withBusyRetries(async () => {
            await runCommand('kpartx', kpartxDeleteArgs(`/dev/${lv.vg}/${lv.name}`), run);
          }).catch(async (err: unknown) => {
            // kpartx needs the LV's node; dmsetup removes the maps by name regardless.
            logger.warn({ err }, 'kpartx -d failed; removing maps with dmsetup');
            for (const mapName of maps) await runCommand('dmsetup', ['remove', mapName], run);
          });
          for (const mapName of maps) removed('map', mapName);
        });
      }
      await attempt(full, async () => {
        if (await removeLvIfPresent(lv.vg, lv.name, run)) removed('snapshot', full);
      });
    }
    // A restore killed after writing the table leaves its target's maps: they hold the
    // target, so the restore run again would find it in use.
    for (const dir of deadDirs) {
      const target = await readRunTarget(dir);
      if (target === null) continue;
      const maps = dmNames.filter((n) => isKpartxMapOf(target.dmName, n));
      if (maps.length === 0) continue;
      await attempt(`maps of ${target.realPath}`, async () => {
        await withBusyRetries(async () => {
          await runCommand('kpartx', kpartxDeleteArgs(target.realPath), run);
        }).catch(async (err: unknown) => {
          logger.warn({ err }, 'kpartx -d failed; removing maps with dmsetup');
          for (const mapName of maps) await runCommand('dmsetup', ['remove', mapName], run);
        });
        for (const mapName of maps) removed('map', mapName);
      });
    }
  }

  // 4. The run directories themselves (only empty mountpoints are removed, never data).
  for (const dir of deadDirs) {
    await attempt(dir, async () => {
      await removeRunDir(dir);
      removed('dir', dir);
    });
  }
  if (result.errors.length > 0 && result.removed.length === 0) {
    logger.warn({ errors: result.errors.length }, 'reaper could not remove some leftovers');
  }
  return result;
}

/** Throws CLEANUP_FAILED when a reap left errors (for callers that must not go on). */
export function assertReaped(r: ReapResult): void {
  if (r.errors.length > 0) {
    throw new AppError(
      'CLEANUP_FAILED',
      `reaper left ${r.errors.length} item(s): ${r.errors.map((e) => `${e.name}: ${e.message}`).join('; ')}`,
    );
  }
}
