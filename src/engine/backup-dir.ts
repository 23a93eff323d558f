/**
 * The destination of one backup: `<dest>/<source>/<backupId>/`. Work happens in
 * `<backupId>.partial/`; only a finished backup (archives, manifest, SHA256SUMS all durable)
 * is renamed to its final name, so a crash never leaves something that looks like a backup.
 *
 * The run holds the destination directory open from start to end. When the destination is
 * unmounted under it (`umount -l` while archives are open) or its path is replaced, the
 * unfinished work directory is still removed through that descriptor
 * (`/proc/self/fd/N/...`): it does not wait on the detached filesystem for the next backup of
 * the source to sweep it.
 */
import {
  constants,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError } from '../errors.js';
import { destError, fsyncDir, makeDirs, PARTIAL_SUFFIX } from './durable-file.js';
import { runDirOwnerAlive, runRoot } from './run-dir.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export interface BackupDir {
  sourceDir: string;
  workDir: string;
  finalDir: string;
  /** The destination directory, open for the run (closed by commit or discard). */
  anchor: FileHandle | null;
}

const SOURCE_NAME = /^[A-Za-z0-9+_.-]{1,255}$/;

/**
 * Creates the work directory (0700) and proves the destination takes a file, before any
 * snapshot or mount exists. Fails with DEST_NOT_WRITABLE or DEST_FULL.
 */
export async function prepareBackupDir(
  dest: string,
  source: string,
  backupId: string,
  runId: string,
): Promise<BackupDir> {
  if (!SOURCE_NAME.test(source) || source === '.' || source === '..') {
    throw new AppError(
      'INVALID_ARGUMENT',
      `cannot use ${JSON.stringify(source)} as a directory name`,
    );
  }
  const sourceDir = join(dest, source);
  const workDir = join(sourceDir, backupId + PARTIAL_SUFFIX);
  const finalDir = join(sourceDir, backupId);
  let anchor: FileHandle | null = null;
  try {
    await makeDirs(sourceDir, 0o700);
    anchor = await open(dest, constants.O_RDONLY | constants.O_DIRECTORY);
    await mkdir(workDir, { mode: 0o700 });
    // A directory can be creatable on a filesystem that has no room for data; write a block.
    const probe = join(workDir, '.probe');
    const h = await open(probe, 'wx', 0o600);
    try {
      await h.write(Buffer.alloc(4096));
      await h.sync();
    } finally {
      await h.close();
    }
    await unlink(probe);
    await writeFile(join(workDir, RUN_MARKER), runId, { mode: 0o600 });
  } catch (err) {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    await rmdir(sourceDir).catch(() => undefined);
    await anchor?.close().catch(() => undefined);
    const e = destError(err, `the destination ${dest}`);
    // ENOENT here is a filesystem that refuses the directory (procfs), not one that went away.
    if (e.code === 'ARCHIVE_FAILED' || e.code === 'DEST_GONE') {
      throw new AppError('DEST_NOT_WRITABLE', `cannot use ${dest} as destination: ${String(err)}`, {
        cause: err,
      });
    }
    throw e;
  }
  await sweepStalePartials(sourceDir, workDir);
  return { sourceDir, workDir, finalDir, anchor };
}

/** Names the run that owns a work directory; removed before the directory is committed. */
const RUN_MARKER = '.run';

/**
 * Removes `<id>.partial` directories of this source left by runs that died (SIGKILL, power
 * loss): their owner's run directory is gone or its process is not alive. A live run's
 * work directory is never touched.
 */
async function sweepStalePartials(sourceDir: string, own: string): Promise<void> {
  const entries = await readdir(sourceDir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(sourceDir, e.name);
    if (!e.isDirectory() || !e.name.endsWith(PARTIAL_SUFFIX) || path === own) continue;
    const runId = (await readFile(join(path, RUN_MARKER), 'utf8').catch(() => '')).trim();
    if (runId !== '' && (await runDirOwnerAlive(join(runRoot(), runId)))) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Renames the finished work directory to its final name and makes that durable: the work
 * directory is fsynced first (the renames of its files into place, which durable-file.ts
 * leaves to this one fsync), then renamed, then its parent fsynced.
 */
export async function commitBackupDir(dir: BackupDir): Promise<void> {
  try {
    await unlink(join(dir.workDir, RUN_MARKER)).catch(() => undefined);
    await fsyncDir(dir.workDir);
    stepPoint('commit-dir');
    await rename(dir.workDir, dir.finalDir);
    await fsyncDir(dir.sourceDir);
  } catch (err) {
    throw destError(err, dir.finalDir);
  }
  await releaseAnchor(dir);
}

/**
 * Removes an unfinished backup (and the source directory if it is left empty), through the
 * destination the run opened, so that a destination unmounted or moved away under the run
 * is cleaned as well as one still in place.
 */
export async function discardBackupDir(dir: BackupDir): Promise<void> {
  try {
    const root = dir.anchor === null ? null : `/proc/self/fd/${dir.anchor.fd}`;
    const sourceDir = root === null ? dir.sourceDir : join(root, basename(dir.sourceDir));
    await rm(join(sourceDir, basename(dir.workDir)), { recursive: true, force: true });
    await rmdir(sourceDir).catch(() => undefined);
  } finally {
    await releaseAnchor(dir);
  }
}

async function releaseAnchor(dir: BackupDir): Promise<void> {
  const anchor = dir.anchor;
  dir.anchor = null;
  await anchor?.close().catch(() => undefined);
}
