/**
 * The private directory of a run (`<run root>/<runId>/`, 0700; the root is `[DEFAULT]
 * run_dir`, default /run/cinder-lvm-backup) that holds its mountpoints and an `owner` file
 * (pid and start time), so the reaper can tell a live run from a crashed one.
 */
import { mkdir, readdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import { readProcessStartTime } from './proc-io.js';

export const OWNER_FILE = 'owner';
/** A restore's target device, so the reaper can remove its partition maps after a crash. */
export const TARGET_FILE = 'target';

export interface RunTarget {
  /** The device kpartx maps (e.g. /dev/mapper/vg-lv). */
  realPath: string;
  /** Its device-mapper name: the maps are `<dmName>[p]N`. */
  dmName: string;
}

export const DEFAULT_RUN_ROOT = '/run/cinder-lvm-backup';

let root = DEFAULT_RUN_ROOT;

/**
 * Sets the root of all run directories, once at process start from the settings: it is
 * process-wide because the reaper must see every run of the host under one root.
 */
export function setRunRoot(dir: string): void {
  if (!dir.startsWith('/')) throw new AppError('INTERNAL', `run root ${dir} is not absolute`);
  root = dir;
}

/** Root of all run directories. */
export function runRoot(): string {
  return root;
}

/** Creates the run directory of `runId` and records this process as its owner. */
export async function createRunDir(runId: string): Promise<string> {
  const root = runRoot();
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = join(root, runId);
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AppError('INVALID_ARGUMENT', `run ${runId} already has a run directory`, {
        cause: err,
      });
    }
    throw err;
  }
  const startTime = await readProcessStartTime(process.pid);
  await writeFile(join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, startTime }), {
    mode: 0o600,
  });
  return dir;
}

/** Records the device-mapper target a restore maps partitions of (see the reaper). */
export async function recordRunTarget(dir: string, target: RunTarget): Promise<void> {
  await writeFile(join(dir, TARGET_FILE), JSON.stringify(target), { mode: 0o600 });
}

/** The target a run recorded, or null (none, or unreadable). */
export async function readRunTarget(dir: string): Promise<RunTarget | null> {
  try {
    const t = JSON.parse(await readFile(join(dir, TARGET_FILE), 'utf8')) as Partial<RunTarget>;
    if (typeof t.realPath !== 'string' || typeof t.dmName !== 'string') return null;
    if (!t.realPath.startsWith('/dev/') || t.dmName === '') return null;
    return { realPath: t.realPath, dmName: t.dmName };
  } catch {
    return null;
  }
}

/**
 * Removes the run directory: empty mountpoint directories (rmdir only, never a recursive
 * delete: a forgotten mount below must not lose its contents), FIFOs, working copies of
 * tar snapshot files (`*.snar`, stored compressed in the backup), the target and owner
 * files, the dir.
 */
export async function removeRunDir(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (entries === null) return;
  for (const e of entries) {
    if (e.isDirectory()) await rmdir(join(dir, e.name));
    // FIFOs between tar and zstd hold no data; a killed run leaves them behind.
    else if (e.isFIFO()) await unlink(join(dir, e.name));
    else if (e.isFile() && e.name.endsWith('.snar')) await unlink(join(dir, e.name));
  }
  await unlink(join(dir, TARGET_FILE)).catch(() => undefined);
  await unlink(join(dir, OWNER_FILE)).catch(() => undefined);
  await rmdir(dir);
}

/** Whether the process recorded as owner of run directory `dir` is still alive. */
export async function runDirOwnerAlive(dir: string): Promise<boolean> {
  let owner: { pid?: unknown; startTime?: unknown };
  try {
    owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as typeof owner;
  } catch {
    return false;
  }
  if (typeof owner.pid !== 'number') return false;
  const now = await readProcessStartTime(owner.pid);
  return now !== null && now === owner.startTime;
}
