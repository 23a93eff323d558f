/**
 * Running commands in an instance with the system OpenSSH client, through the command
 * wrapper: `runSsh` to completion, `spawnSsh` for a stream or a conversation. The options
 * go into a 0600 config file (see ssh-args.ts); nothing here starts a local shell.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, spawnCommand } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { sshArgs, sshConfigText } from './ssh-args.js';
import { sshConnectionError } from './ssh-errors.js';
import { assertSafePath, checkTarget, describeTarget, type SshTarget } from './ssh-target.js';

/** A target whose config file is written: what the session functions take. */
export interface SshEndpoint {
  target: SshTarget;
  configFile: string;
  name: string;
}

export const SSH_CONFIG_FILE = 'ssh_config';

/** Checks the target and writes its ssh config into `dir` (a private run directory). */
export async function prepareSsh(target: SshTarget, dir: string): Promise<SshEndpoint> {
  const t = checkTarget(target);
  const configFile = assertSafePath('ssh config file', join(dir, SSH_CONFIG_FILE));
  await writeFile(configFile, sshConfigText(t), { mode: 0o600 });
  return { target: t, configFile, name: describeTarget(t) };
}

export interface SshRunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/** Runs a remote command to completion; ssh's own failures become SSH_* errors. */
export async function runSsh(
  ep: SshEndpoint,
  remoteCommand: string,
  opts: SshRunOptions,
): Promise<{ stdout: string; stderr: string; exitCode: number; durationMs: number }> {
  const r = await runCommand('ssh', sshArgs(ep.target, ep.configFile, remoteCommand), {
    timeoutMs: opts.timeoutMs,
    okExitCodes: Array.from({ length: 256 }, (_, i) => i),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  }).catch((err: unknown) => {
    if (err instanceof AppError && err.code === 'COMMAND_TIMEOUT') {
      throw new AppError(
        'SSH_UNREACHABLE',
        `ssh to ${ep.name}: the remote command did not finish in ${opts.timeoutMs} ms`,
        { cause: err, retryable: true },
      );
    }
    throw err;
  });
  const failed = sshConnectionError(ep.name, r.exitCode, r.stderr);
  if (failed) throw failed;
  return r;
}

/**
 * The line a remote command prints on stderr before anything else: the session is open.
 * ssh's ConnectTimeout covers the TCP connect and (OpenSSH 9.2 here) the wait for the
 * server's banner, but not the key exchange or authentication: a server that sends its
 * banner and stalls held ssh until ServerAliveInterval × ServerAliveCountMax (15 s), not
 * connect_timeout (test/reliability/hanging-peers.test.ts). Only the remote side can say
 * the whole handshake is over, and stderr keeps stdout (a dump) the remote program's own.
 */
export const SESSION_MARK = 'clb-session-open';

/** The remote command behind the session mark (a constant line; nothing of the caller's). */
export function markedRemoteCommand(remoteCommand: string): string {
  return `printf '%s\\n' ${SESSION_MARK} >&2\n${remoteCommand}`;
}

/** ssh's stderr without the session mark (for error messages and their tails). */
export function sessionStderr(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l !== SESSION_MARK)
    .join('\n');
}

/** A started ssh: the process, and whether it gave up on the connection phase. */
export interface SshSession {
  child: ReturnType<typeof spawnCommand>;
  /**
   * SSH_UNREACHABLE when the session did not open within the target's connect timeout (ssh
   * was stopped then), null otherwise. Callers check it before reading the exit status.
   */
  connectError(): AppError | null;
}

/**
 * Starts ssh for a streamed or interactive remote command; the caller waits for it. The
 * whole connection phase (TCP connect, banner, key exchange, authentication, the remote
 * shell's start) is bounded by the target's connect timeout on the wall clock: without the
 * session mark by then, ssh is stopped (SIGTERM; it ends its ProxyJump child itself).
 */
export function spawnSsh(ep: SshEndpoint, remoteCommand: string, signal: AbortSignal): SshSession {
  const stop = new AbortController();
  const child = spawnCommand(
    'ssh',
    sshArgs(ep.target, ep.configFile, markedRemoteCommand(remoteCommand)),
    { signal: AbortSignal.any([signal, stop.signal]) },
  );
  const limitMs = ep.target.connectTimeoutSeconds * 1000;
  let error: AppError | null = null;
  let seen = '';
  const timer = setTimeout(() => {
    error = new AppError(
      'SSH_UNREACHABLE',
      `ssh to ${ep.name} failed: the connection timed out: the session did not open within the ${ep.target.connectTimeoutSeconds} s connect timeout (connect, key exchange, authentication); ssh was stopped`,
      { retryable: true, details: { target: ep.name } },
    );
    stop.abort(error);
  }, limitMs);
  const opened = (): void => {
    clearTimeout(timer);
    child.stderr?.off('data', onData);
  };
  const onData = (d: Buffer): void => {
    // Only the start of stderr matters: the mark is the remote's first line.
    seen = (seen + d.toString('utf8')).slice(0, 4096);
    if (seen.split('\n').slice(0, -1).includes(SESSION_MARK)) opened();
  };
  child.stderr?.on('data', onData);
  void child.finally(opened);
  return { child, connectError: () => error };
}

/** A signal that fires on the caller's abort or after `ms`; `timedOut()` says which. */
export function deadline(
  ms: number,
  outer?: AbortSignal,
): { signal: AbortSignal; timedOut: () => boolean } {
  const timer = AbortSignal.timeout(ms);
  const signal = outer ? AbortSignal.any([outer, timer]) : timer;
  return { signal, timedOut: () => timer.aborted && !(outer?.aborted ?? false) };
}
