/**
 * The TypeScript face of the storage-node guest (run-guest.sh): boots a throw-away QEMU
 * guest with real LVM, runs one command in it and returns its exit code and console output.
 * Tests that need device-mapper (which the build machines' kernel lacks) go through here.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The harness script. */
export const RUN_GUEST = join(HERE, 'run-guest.sh');
/** The project root, which is also the guest's default working directory. */
export const PROJECT_ROOT = resolve(HERE, '..', '..');

export interface GuestForward {
  /** Port the guest connects to at 10.0.2.100. */
  guestPort: number;
  /** Port on the host's 127.0.0.1 it reaches. */
  hostPort: number;
}

export interface GuestRun {
  /** Program and arguments, run inside the guest (no shell unless you ask for one). */
  command: string[];
  /** Scratch disks (/dev/vda, /dev/vdb, ...) as sizes in MiB; sparse. Default: one of 2048. */
  disks?: number[];
  memMiB?: number;
  /** Wall-clock limit for the whole guest, boot included. Default 900. */
  timeoutSec?: number;
  env?: Record<string, string>;
  /** Host services the guest may reach (QEMU user network, restrict=on). */
  forwards?: GuestForward[];
  /** Host directory shared read-write at /out. Default: a fresh temporary directory. */
  outDir?: string;
  /** Working directory inside the guest. Default: the project root. */
  cwd?: string;
  /** Copy the console to this process's stderr as it arrives (for slow scenarios). */
  echo?: boolean;
}

export interface GuestResult {
  /** The command's exit status; 124 timeout, 125 guest died, 126 harness setup error. */
  exitCode: number;
  /** Serial console output (the command's stdout and stderr), with '\r' removed. */
  stdout: string;
  /** The harness's own messages (setup errors, timing). */
  stderr: string;
  /** The host directory that was /out in the guest. */
  outDir: string;
  durationMs: number;
}

/**
 * Why the guest cannot boot on this machine, or null when it can. Tests call this first so
 * a missing package fails loudly with the fix instead of with a QEMU error.
 */
export function guestUnavailableReason(): string | null {
  const hint = 'run scripts/install-system-deps.sh (as root) to install it';
  const onPath = (program: string): boolean =>
    (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, program)));
  if (!onPath('qemu-system-x86_64')) return `qemu-system-x86_64 is missing; ${hint}`;
  const kernels = existsSync('/boot')
    ? readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-'))
    : [];
  if (kernels.length === 0) return `no kernel in /boot (linux-image-amd64); ${hint}`;
  if (!existsSync('/bin/busybox')) return `busybox-static is missing; ${hint}`;
  for (const tool of ['lvm', 'kpartx', 'sfdisk', 'mkfs.xfs']) {
    if (!onPath(tool) && !existsSync(join('/usr/sbin', tool)) && !existsSync(join('/sbin', tool)))
      return `${tool} is missing; ${hint}`;
  }
  return null;
}

/** Builds run-guest.sh's argument list (exported for its unit test). */
export function guestArgs(run: GuestRun, outDir: string): string[] {
  const args: string[] = [];
  for (const mib of run.disks ?? [2048]) args.push('-d', String(mib));
  if (run.memMiB !== undefined) args.push('-m', String(run.memMiB));
  args.push('-t', String(run.timeoutSec ?? 900));
  for (const [name, value] of Object.entries(run.env ?? {})) args.push('-e', `${name}=${value}`);
  for (const f of run.forwards ?? []) args.push('-f', `${f.guestPort}:${f.hostPort}`);
  args.push('-o', outDir, '-C', run.cwd ?? PROJECT_ROOT, '--', ...run.command);
  return args;
}

/** Boots a guest, runs the command and returns when the guest has powered off. */
export async function runInGuest(run: GuestRun): Promise<GuestResult> {
  const reason = guestUnavailableReason();
  if (reason !== null) throw new Error(`storage-node guest unavailable: ${reason}`);
  const outDir = run.outDir ?? mkdtempSync(join(tmpdir(), 'clb-guest-out-'));
  const started = Date.now();
  const child = execa(RUN_GUEST, guestArgs(run, outDir), {
    reject: false,
    stdin: 'ignore',
    encoding: 'utf8',
    stripFinalNewline: false,
    // The harness enforces the limit inside; this is the backstop if it hangs.
    timeout: ((run.timeoutSec ?? 900) + 60) * 1000,
  });
  if (run.echo === true) child.stdout?.pipe(process.stderr);
  const result = await child;
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return {
    exitCode: result.exitCode ?? -1,
    stdout: text(result.stdout).replace(/\r/g, ''),
    stderr: text(result.stderr),
    outDir,
    durationMs: Date.now() - started,
  };
}
