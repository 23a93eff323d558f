/**
 * Read-only mounts of a backup's filesystems inside its private run directory, made and
 * removed inside the job's private mount namespace when one is given (mount-namespace.ts).
 */
import { mkdir, readFile, rmdir, stat, statfs } from 'node:fs/promises';
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import { mountArgs, umountArgs } from './args/mount-args.js';
import { parseMountinfo, type MountEntry } from './parse/mountinfo.js';
import type { MountNamespace } from './mount-namespace.js';
import { withBusyRetries } from './retry.js';

/** A command as given, or entered into the namespace. */
function command(
  ns: MountNamespace | undefined,
  program: string,
  args: string[],
): { program: string; args: string[] } {
  return ns === undefined ? { program, args } : ns.wrap(program, args);
}

/** Mounts `device` read-only at `dir` (created 0700). */
export async function mountReadOnly(
  device: string,
  dir: string,
  fsType: string,
  options: readonly string[],
  run: RunOptions = {},
  ns?: MountNamespace,
): Promise<void> {
  await mkdir(dir, { mode: 0o700 });
  try {
    const cmd = command(ns, 'mount', mountArgs(fsType, options, device, dir));
    await runCommand(cmd.program, cmd.args, run);
  } catch (err) {
    await rmdir(dir).catch(() => undefined);
    if (err instanceof AppError && err.code !== 'COMMAND_FAILED') throw err;
    throw new AppError(
      'MOUNT_FAILED',
      `cannot mount ${device} (${fsType}) read-only: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** Unmounts `dir` (retrying while busy) and removes the directory. */
export async function unmountAndRemove(
  dir: string,
  run: RunOptions = {},
  lazy = false,
  ns?: MountNamespace,
): Promise<void> {
  const cmd = command(ns, 'umount', umountArgs(dir, lazy));
  await withBusyRetries(async () => {
    await runCommand(cmd.program, cmd.args, run);
  });
  await rmdir(dir);
}

/** Current mounts at or below `root`, deepest first (the order to unmount them in). */
export async function mountsUnder(root: string): Promise<MountEntry[]> {
  const all = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  const prefix = root.endsWith('/') ? root : root + '/';
  return all
    .filter((m) => m.mountPoint === root || m.mountPoint.startsWith(prefix))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/** Size, used bytes and inodes in use of a mounted filesystem. */
export async function filesystemFigures(
  dir: string,
  ns?: MountNamespace,
): Promise<{ fsSizeBytes: number; usedBytes: number; inodesUsed: number }> {
  const s = await statfs(ns === undefined ? dir : ns.view(dir));
  return {
    fsSizeBytes: s.blocks * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    inodesUsed: Math.max(0, s.files - s.ffree),
  };
}

/**
 * The device number (`st_dev`, decimal) the files of the filesystem mounted at `dir` carry,
 * which is what tar records for each directory in a snapshot file.
 */
export async function mountedDevice(dir: string, ns?: MountNamespace): Promise<string> {
  const s = await stat(ns === undefined ? dir : ns.view(dir), { bigint: true });
  return s.dev.toString();
}
