/**
 * One throw-away libguestfs appliance (a small VM: KVM where the node has it, else TCG)
 * with the block device to back up as its only disk, driven through one guestfish process:
 * a command line goes to its stdin followed by `echo` of a marker, and what guestfish
 * prints up to the marker is that command's answer. guestfish reading a pipe stops at the
 * first failing command, so a failure shows as its exit, with its stderr.
 */
import { AppError } from '../errors.js';
import { CommandError } from '../exec/command-error.js';
import { runCommand, spawnCommand, stderrTail, type RunOptions } from '../exec/run-command.js';
import type { Logger } from '../log.js';
import { guestfishArgs, guestfishLine, guestfishList } from './args/guestfish-args.js';
import { APPLIANCE_RUN_ENV } from './parse/appliance-leftovers.js';

type Child = ReturnType<typeof spawnCommand>;

/** Checks that guestfish is installed: appliance isolation never falls back to host mode. */
export async function guestfishVersion(run: RunOptions = {}): Promise<string> {
  try {
    const r = await runCommand('guestfish', ['--version'], { ...run, timeoutMs: 30_000 });
    return r.stdout.trim().split('\n')[0] ?? 'guestfish';
  } catch (err) {
    if (err instanceof AppError && err.code === 'TOOL_MISSING') {
      throw new AppError(
        'TOOL_MISSING',
        'isolation "appliance" needs guestfish (Debian: guestfish, libguestfs-xfs); it is not installed, and host mode is not used instead',
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * What a backup with isolation `appliance` checks before it touches anything: guestfish is
 * there (TOOL_MISSING otherwise) and every exclude pattern can be handed to tar-out.
 */
export async function checkApplianceRequest(
  excludes: readonly string[],
  run: RunOptions = {},
): Promise<void> {
  guestfishList(excludes);
  await guestfishVersion(run);
}

export class ApplianceSession {
  private buffer = '';
  private lines: string[] = [];
  private waiter: (() => void) | null = null;
  private exited = false;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: Child,
    private readonly logger: Logger | undefined,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.buffer += chunk;
      const parts = this.buffer.split('\n');
      this.buffer = parts.pop() ?? '';
      this.lines.push(...parts);
      this.wake();
    });
    void child.then(() => {
      this.exited = true;
      this.wake();
    });
  }

  /**
   * Starts guestfish on `device` in the run directory `cwd`. guestfish and every process it
   * starts (qemu, libguestfs's recovery process) carry APPLIANCE_RUN_ENV=`cwd` in their
   * environment: after the agent is killed, the reaper finds them by it.
   */
  static start(
    device: string,
    opts: { cwd: string; signal?: AbortSignal; logger?: Logger },
  ): ApplianceSession {
    const child = spawnCommand('guestfish', guestfishArgs(device), {
      cwd: opts.cwd,
      env: { [APPLIANCE_RUN_ENV]: opts.cwd },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return new ApplianceSession(child, opts.logger);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /**
   * Runs one command (name and arguments, quoted here) and returns the lines it printed.
   * Commands run one after the other.
   */
  command(
    name: string,
    args: readonly string[] = [],
    opts: { timeoutMs?: number } = {},
  ): Promise<string[]> {
    return this.send(guestfishLine(name, args), name, opts);
  }

  /**
   * Sends an already built and quoted line (see guestfish-args.ts). With `timeoutMs`, an
   * answer that does not come in time kills guestfish (and so its appliance) and fails
   * with COMMAND_TIMEOUT.
   */
  send(line: string, what: string, opts: { timeoutMs?: number } = {}): Promise<string[]> {
    const next = this.queue.then(() => this.timed(line, what, opts.timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async timed(line: string, what: string, timeoutMs?: number): Promise<string[]> {
    if (timeoutMs === undefined) return this.exchange(line, what);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(
          new AppError(
            'COMMAND_TIMEOUT',
            `guestfish ${what} did not answer in ${timeoutMs} ms; the appliance was stopped`,
          ),
        );
      }, timeoutMs);
    });
    const answer = this.exchange(line, what);
    answer.catch(() => undefined);
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async exchange(line: string, what: string): Promise<string[]> {
    const marker = `@@clb-${process.pid}-${++this.seq}@@`;
    const started = Date.now();
    if (this.exited || this.child.stdin === null) throw await this.failure(what);
    this.child.stdin.write(`${line}\n${guestfishLine('echo', [marker])}\n`);
    const out: string[] = [];
    for (;;) {
      while (this.lines.length > 0) {
        const l = this.lines.shift() as string;
        if (l === marker) {
          this.logger?.debug({ guestfish: what, ms: Date.now() - started }, 'appliance command');
          return out;
        }
        out.push(l);
      }
      if (this.exited) throw await this.failure(what);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  private async failure(what: string): Promise<AppError> {
    const r = await this.child;
    const stderr = stderrTail(
      r.stderr instanceof Uint8Array ? Buffer.from(r.stderr).toString('utf8') : '',
    );
    if ((r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      return new AppError('TOOL_MISSING', 'guestfish is not installed (not found on PATH)');
    }
    if (r.isCanceled) return new AppError('ABORTED', `appliance ${what} was cancelled`);
    const how = r.exitCode !== undefined ? `exit ${r.exitCode}` : `signal ${String(r.signal)}`;
    return new CommandError('ARCHIVE_FAILED', `guestfish ${what} failed (${how}): ${stderr}`, {
      program: 'guestfish',
      command: r.command,
      exitCode: r.exitCode ?? null,
      signal: r.signal ?? null,
      stderr,
    });
  }

  /** Ends the appliance: `exit` when it still runs, then waits; kills it after `ms`. */
  async close(ms = 60_000): Promise<void> {
    if (!this.exited) this.child.stdin?.end('exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    try {
      await this.child;
    } finally {
      clearTimeout(timer);
    }
  }
}
