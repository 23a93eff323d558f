/**
 * The job's private mount namespace: the tenant's filesystems are mounted, read and
 * unmounted inside it, so the rest of the node (its services, its users, another job)
 * never sees them in its mount table and cannot reach them by path.
 *
 * A `sleep infinity` started by `unshare --mount --propagation private` holds the namespace;
 * mount, umount and tar enter it with nsenter; Node reaches the mounted trees through
 * `/proc/<holder>/root/...` (statfs). The holder runs with the run directory as its working
 * directory: after a crash the reaper recognises it there, ends it, and the kernel detaches
 * every mount of the namespace once its last process is gone (so the snapshot can be
 * removed). Closing the namespace on the normal path does the same after the unmounts.
 */
import { readlink } from 'node:fs/promises';
import { AppError } from '../errors.js';
import { spawnCommand, stderrTail } from '../exec/run-command.js';
import { inNamespaceArgs, namespaceHolderArgs } from './args/namespace-args.js';

export interface MountNamespace {
  /** The holder's pid. */
  readonly pid: number;
  /** A program and its arguments, made to run inside the namespace (cwd: the run dir). */
  wrap(program: string, args: readonly string[]): { program: string; args: string[] };
  /** The path by which this process reaches `path` as the namespace sees it. */
  view(path: string): string;
  /** Ends the holder; the kernel drops the namespace and whatever is still mounted in it. */
  close(): Promise<void>;
}

async function namespaceOf(pid: number | 'self'): Promise<string | null> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
}

/** Starts the holder in `runDir` and waits until it has its own namespace. */
export async function openMountNamespace(runDir: string): Promise<MountNamespace> {
  const holder = namespaceHolderArgs();
  const child = spawnCommand(holder.program, holder.args, { cwd: runDir });
  const pid = child.pid;
  const ended = child.then((r) => r);
  if (pid === undefined) {
    const r = await ended;
    throw new AppError(
      'MOUNT_FAILED',
      `cannot start a private mount namespace (unshare): ${stderrTail(String(r.stderr))}`,
    );
  }
  const ours = await namespaceOf('self');
  let exited = false;
  void ended.then(() => {
    exited = true;
  });
  // unshare makes the namespace, then execs sleep: until then /proc shows ours.
  for (let i = 0; ; i += 1) {
    const theirs = await namespaceOf(pid);
    if (theirs !== null && theirs !== ours) break;
    if (exited || i >= 200) {
      child.kill('SIGKILL');
      const r = await ended;
      throw new AppError(
        'MOUNT_FAILED',
        `cannot start a private mount namespace (unshare): ${stderrTail(Buffer.from(r.stderr ?? '').toString())}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    pid,
    wrap: (program, args) => inNamespaceArgs(pid, runDir, program, args),
    view: (path) => `/proc/${pid}/root${path}`,
    async close() {
      child.kill('SIGKILL');
      await ended;
    },
  };
}
