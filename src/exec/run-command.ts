/**
 * The one way the service runs a system program: program plus argument array (never a
 * shell string), a timeout, an AbortSignal, the tail of stderr in the error, a log line.
 */
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { silentLogger, type Logger } from '../log.js';
import { CommandError } from './command-error.js';

export interface RunOptions {
  /** Milliseconds before the program is killed (SIGTERM, then SIGKILL after 5 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Data written to the program's stdin. */
  input?: string | Buffer;
  /** Exit codes that are not failures (default: only 0). */
  okExitCodes?: readonly number[];
  env?: Record<string, string>;
  cwd?: string;
  logger?: Logger;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const STDERR_TAIL = 2_000;

/** The last part of a program's stderr, for error messages. */
export function stderrTail(stderr: string): string {
  const trimmed = stderr.trim();
  return trimmed.length <= STDERR_TAIL ? trimmed : '…' + trimmed.slice(-STDERR_TAIL);
}

/** A spawned program's buffered output (execa gives a Uint8Array for `encoding: 'buffer'`). */
export function outputText(b: unknown): string {
  return b instanceof Uint8Array ? Buffer.from(b).toString('utf8') : typeof b === 'string' ? b : '';
}

/** Renders a command for logs and errors (quoted, never executed). */
export function describeCommand(program: string, args: readonly string[]): string {
  return [program, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(' ');
}

/** Environment every storage-node command gets: no locale surprises in parsed output. */
export function commandEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { LC_ALL: 'C', LANG: 'C', LVM_SUPPRESS_FD_WARNINGS: '1', ...extra };
}

/**
 * Runs a program to completion and returns its output; throws a CommandError with code
 * TOOL_MISSING, COMMAND_TIMEOUT, ABORTED or COMMAND_FAILED (stderr tail in the message and
 * in its `stderr` field).
 */
export async function runCommand(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const logger = options.logger ?? silentLogger;
  const command = describeCommand(program, args);
  const started = Date.now();
  const result = await execa(program, [...args], {
    reject: false,
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    forceKillAfterDelay: 5_000,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' }),
    env: commandEnv(options.env),
    extendEnv: true,
    stripFinalNewline: false,
    encoding: 'utf8',
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const durationMs = Date.now() - started;
  const stdout = typeof result.stdout === 'string' ? result.stdout : '';
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const exitCode = result.exitCode ?? -1;
  logger.debug({ command, exitCode, durationMs }, 'command finished');

  const tail = stderrTail(stderr);
  const facts = {
    program,
    command,
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    stderr: tail,
  };
  if (result.failed && (result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new CommandError(
      'TOOL_MISSING',
      `${program} is not installed (not found on PATH)`,
      facts,
      {
        cause: result.cause,
      },
    );
  }
  if (result.timedOut) {
    const ms = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    throw new CommandError('COMMAND_TIMEOUT', `${command} did not finish in ${ms} ms`, facts, {
      cause: result.cause,
    });
  }
  if (result.isCanceled) {
    throw new CommandError('ABORTED', `${command} was cancelled`, facts, {
      cause: options.signal?.reason ?? result.cause,
    });
  }
  const ok = options.okExitCodes ?? [0];
  if (!ok.includes(exitCode)) {
    const how =
      result.exitCode === undefined
        ? `was killed by ${String(result.signal)}`
        : `exited with ${exitCode}`;
    throw new CommandError('COMMAND_FAILED', `${command} ${how}${tail ? `: ${tail}` : ''}`, facts, {
      retryable: false,
    });
  }
  return { command, exitCode, stdout, stderr, durationMs };
}

/**
 * Starts a program whose stdio the caller wires into a stream pipeline (tar → compressor).
 * The caller owns waiting for it; the promise does not reject (reject: false) so a pipeline
 * can report the first real failure itself. Only stderr is buffered.
 */
export function spawnCommand(program: string, args: readonly string[], options: SpawnOptions = {}) {
  return execa(program, [...args], { ...spawnOptions(options), stdin: 'pipe' });
}

/**
 * spawnCommand reading `source`, another child's stdout, instead of a pipe from Node: the
 * program gets that pipe's file descriptor, so the bytes go from one program to the next
 * through the kernel. Call it in the same tick as the child that writes (Node stops reading
 * the pipe itself then), and destroy `source` afterwards so this program is its only reader.
 */
export function spawnCommandFrom(
  program: string,
  args: readonly string[],
  source: Readable,
  options: SpawnOptions = {},
) {
  return execa(program, [...args], { ...spawnOptions(options), stdin: source });
}

interface SpawnOptions {
  signal?: AbortSignal;
  cwd?: string;
  env?: Record<string, string>;
}

function spawnOptions(options: SpawnOptions) {
  return {
    reject: false,
    buffer: { stdout: false, stderr: true, all: false },
    stdout: 'pipe',
    stderr: 'pipe',
    forceKillAfterDelay: 5_000,
    env: commandEnv(options.env),
    extendEnv: true,
    encoding: 'buffer',
    cancelSignal: options.signal,
    cwd: options.cwd,
  } as const;
}
