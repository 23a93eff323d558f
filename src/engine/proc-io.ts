/**
 * Reads of /proc for progress and for the reaper: a process's read counter, its cwd,
 * command line and environment.
 */
import { readFile, readlink } from 'node:fs/promises';

/** Bytes the process has read (`rchar` in /proc/<pid>/io), or null when it is gone. */
export async function readProcessReadBytes(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/io`, 'utf8');
    const m = /^rchar:\s*(\d+)/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface ProcessInfo {
  pid: number;
  /** Short name from /proc/<pid>/comm. */
  comm: string;
  cwd: string | null;
  args: string[];
}

/** What /proc says about a process, or null when it is gone or unreadable. */
export async function readProcessInfo(pid: number): Promise<ProcessInfo | null> {
  try {
    const [comm, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/comm`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`),
    ]);
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
    const args = cmdline.toString('utf8').split('\0');
    if (args.at(-1) === '') args.pop();
    return { pid, comm: comm.trim(), cwd, args };
  } catch {
    return null;
  }
}

/**
 * Start time of a running process (field 22 of /proc/<pid>/stat, clock ticks since boot), or
 * null when there is none. A zombie (state Z, or X) counts as gone: a SIGKILLed backup
 * whose parent has not waited for it yet still has /proc/<pid>/stat with its old start time,
 * and must not keep its run's leftovers from being reaped.
 */
export async function readProcessStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and ')': fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** A process's environment (`NAME=value` entries), or null when it is gone or unreadable. */
export async function readProcessEnviron(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/environ`);
    const entries = raw.toString('utf8').split('\0');
    if (entries.at(-1) === '') entries.pop();
    return entries;
  } catch {
    return null;
  }
}
