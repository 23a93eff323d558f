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

/** Starts ssh for a streamed or interactive remote command; the caller waits for it. */
export function spawnSsh(ep: SshEndpoint, remoteCommand: string, signal: AbortSignal) {
  return spawnCommand('ssh', sshArgs(ep.target, ep.configFile, remoteCommand), { signal });
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
