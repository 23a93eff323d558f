/**
 * Durable writes into a backup's work directory: data goes to `<name>.partial` (0600), is
 * fsynced and renamed into place. The directory itself is fsynced once, when the backup
 * directory is committed (backup-dir.ts commitBackupDir: fsync of the work directory, then
 * its rename): until then the whole directory is `<id>.partial` and is discarded after a
 * crash, so a file either exists complete in a committed backup or not at all.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AppError } from '../errors.js';
import { stepPoint } from '../lifecycle/step-pause.js';

export const PARTIAL_SUFFIX = '.partial';

/**
 * Maps a filesystem error on the destination to DEST_FULL / DEST_NOT_WRITABLE / DEST_GONE.
 * ENOENT inside a work directory this run created means the directory went away under it:
 * the filesystem was unmounted (lazily, while files were open) or the tree removed.
 */
export function destError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new AppError('DEST_FULL', `the destination ran out of space writing ${what}`, {
      cause: err,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR') {
    return new AppError('DEST_NOT_WRITABLE', `cannot write ${what}: ${code}`, { cause: err });
  }
  if (code === 'ENOENT' || code === 'ESTALE' || code === 'ENODEV') {
    return new AppError(
      'DEST_GONE',
      `the destination went away while writing ${what} (${code}: unmounted or removed)`,
      { cause: err },
    );
  }
  return new AppError('ARCHIVE_FAILED', `writing ${what} failed: ${String(err)}`, { cause: err });
}

/**
 * Creates `path` and its missing parents one level at a time (mode `mode`). Not
 * `mkdir({ recursive: true })`: on a filesystem that answers mkdir with ENOENT although the
 * parent exists (procfs, some FUSE and autofs mounts), Node 20's recursive mkdir retries
 * forever in the thread pool, and the backup never returns. Here that ENOENT is an error.
 */
export async function makeDirs(path: string, mode: number): Promise<void> {
  const chain: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of chain) {
    try {
      await mkdir(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!(await stat(dir)).isDirectory()) {
        throw Object.assign(new Error(`${dir} exists and is not a directory`), { code: 'ENOTDIR' });
      }
    }
  }
}

/** Path of the temporary name of `<dir>/<name>`. */
export function partialPath(dir: string, name: string): string {
  return join(dir, name + PARTIAL_SUFFIX);
}

/** A write stream to `<dir>/<name>.partial` (0600; fails if the file exists). */
export function createPartialStream(dir: string, name: string): WriteStream {
  return createWriteStream(partialPath(dir, name), { flags: 'wx', mode: 0o600 });
}

/** fsyncs a directory so a rename in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes the closed `<name>.partial` durable (fsync through a fresh descriptor: fsync acts
 * on the file, not the descriptor) and renames it to `<name>`. The rename becomes durable
 * with the directory's fsync at commitBackupDir (one for all the backup's files, not one
 * per file: nothing reads a work directory before it is committed).
 */
export async function commitPartial(dir: string, name: string): Promise<void> {
  try {
    const handle = await open(partialPath(dir, name), 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    stepPoint(`commit:${name}`);
    await rename(partialPath(dir, name), join(dir, name));
  } catch (err) {
    throw destError(err, name);
  }
}

/** Removes the partial file, ignoring errors (the caller is already failing). */
export async function discardPartial(dir: string, name: string): Promise<void> {
  await unlink(partialPath(dir, name)).catch(() => undefined);
}

/** Writes a small file (manifest, SHA256SUMS) durably. */
export async function writeFileDurably(dir: string, name: string, data: string): Promise<void> {
  try {
    await writeFile(partialPath(dir, name), data, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    await discardPartial(dir, name);
    throw destError(err, name);
  }
  await commitPartial(dir, name);
}
