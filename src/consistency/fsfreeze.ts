/**
 * fsfreeze inside the instance around the snapshot, over one SSH session (see
 * freezeRemoteScript): `freeze` returns once every mount point is frozen, `thaw` ends the
 * session and reports the freeze window. A thaw guard inside the instance thaws after the
 * bound whatever happens to the connection or to this process.
 */
import { createInterface } from 'node:readline';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { FREEZE_EXIT, FROZEN_MARK, THAWED_MARK, freezeRemoteScript } from './remote-command.js';
import { sshConnectionError } from './ssh-errors.js';
import { sessionStderr, spawnSsh, type SshEndpoint } from './ssh-session.js';

export const DEFAULT_FREEZE_BOUND_SECONDS = 10;

export interface FreezeRequest {
  endpoint: SshEndpoint;
  mountpoints: readonly string[];
  /** The guard thaws after this many seconds (default 10). */
  boundSeconds: number;
  /** Time allowed to connect, sync and freeze. */
  setupTimeoutMs: number;
  signal?: AbortSignal;
  logger: Logger;
}

export interface ThawResult {
  /** From the moment the instance said frozen to the moment it said thawed (agent clock). */
  windowMs: number;
  /** Set when the thaw did not happen as planned (the guard thawed first, fsfreeze -u failed). */
  error: AppError | null;
}

/** A frozen instance; `thaw` must be called (it is idempotent). */
export interface FrozenSession {
  frozenAt: number;
  thaw(): Promise<ThawResult>;
}

function bufferText(b: unknown): string {
  return sessionStderr(
    b instanceof Uint8Array ? Buffer.from(b).toString('utf8') : typeof b === 'string' ? b : '',
  );
}

function scriptError(target: string, exitCode: number, stderr: string, bound: number): AppError {
  const tail = stderr.trim().split('\n').filter(Boolean).slice(-3).join('; ').slice(0, 400);
  const why: Record<number, string> = {
    [FREEZE_EXIT.sync]: 'sync failed',
    [FREEZE_EXIT.guard]: 'the thaw guard could not be started',
    [FREEZE_EXIT.freeze]:
      'fsfreeze -f failed (already frozen, not a mount point, or no permission)',
    [FREEZE_EXIT.thaw]: 'fsfreeze -u failed',
    [FREEZE_EXIT.notFrozen]: `the thaw guard thawed first: the freeze outlasted its ${bound} s bound, so the snapshot may not be filesystem-consistent`,
    127: 'fsfreeze, sync or setsid is not installed in the instance',
  };
  return new AppError(
    'FREEZE_FAILED',
    `fsfreeze in ${target}: ${why[exitCode] ?? `the freeze script exited with ${exitCode}`}${tail ? ` (${tail})` : ''}`,
    { details: { exitCode } },
  );
}

/** Freezes the mount points; throws FREEZE_FAILED or SSH_* when they are not all frozen. */
export async function freeze(req: FreezeRequest): Promise<FrozenSession> {
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;
  const session = spawnSsh(
    req.endpoint,
    freezeRemoteScript(req.mountpoints, req.boundSeconds),
    signal,
  );
  const { child } = session;
  // A session that already ended makes our write to its stdin fail: that is reported by
  // the exit status, not by an unhandled stream error.
  child.stdin?.on('error', () => undefined);
  const done = child.then((r) => ({ exitCode: r.exitCode ?? -1, stderr: bufferText(r.stderr) }));
  const lines = createInterface({ input: child.stdout });
  let thawedAt: number | null = null;
  let frozen: () => void = () => undefined;
  const frozenSeen = new Promise<void>((resolve) => (frozen = resolve));
  lines.on('line', (line) => {
    if (line === FROZEN_MARK) frozen();
    if (line === THAWED_MARK) thawedAt = Date.now();
  });

  const failOf = async (): Promise<AppError> => {
    const r = await done;
    return (
      session.connectError() ??
      sshConnectionError(req.endpoint.name, r.exitCode, r.stderr) ??
      scriptError(req.endpoint.name, r.exitCode, r.stderr, req.boundSeconds)
    );
  };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    frozenSeen.then(() => 'frozen' as const),
    done.then(() => 'exited' as const),
    new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('timeout'), req.setupTimeoutMs)),
    ),
  ]);
  clearTimeout(timer);
  if (outcome !== 'frozen') {
    // Ending stdin makes a script that froze anyway thaw at once; the guard covers the rest.
    child.stdin?.end();
    if (outcome === 'timeout') stop.abort();
    const err =
      outcome === 'timeout'
        ? new AppError(
            'FREEZE_FAILED',
            `fsfreeze in ${req.endpoint.name}: not frozen within ${req.setupTimeoutMs} ms (the guard thaws within ${req.boundSeconds} s)`,
          )
        : await failOf();
    await done;
    throw err;
  }
  const frozenAt = Date.now();
  req.logger.info(
    { target: req.endpoint.name, mountpoints: req.mountpoints },
    'filesystems frozen',
  );

  let result: Promise<ThawResult> | null = null;
  const thaw = async (): Promise<ThawResult> => {
    child.stdin?.end('thaw\n');
    // The guard has thawed by the bound; a session still open well after it is stopped.
    const kill = setTimeout(() => stop.abort(), (req.boundSeconds + 15) * 1000);
    const r = await done;
    clearTimeout(kill);
    lines.close();
    const windowMs = (thawedAt ?? Date.now()) - frozenAt;
    let error: AppError | null = null;
    if (thawedAt === null) {
      const cause = await failOf();
      error = new AppError(
        'FREEZE_FAILED',
        `fsfreeze in ${req.endpoint.name}: the session ended before it thawed (${cause.message}); the guard in the instance thaws within ${req.boundSeconds} s of the freeze`,
        { cause },
      );
    } else if (r.exitCode !== 0) error = await failOf();
    else if (windowMs > req.boundSeconds * 1000) {
      error = new AppError(
        'FREEZE_FAILED',
        `fsfreeze in ${req.endpoint.name}: the freeze lasted ${windowMs} ms, longer than its ${req.boundSeconds} s bound`,
      );
    }
    req.logger.info(
      { target: req.endpoint.name, windowMs, ok: error === null },
      'filesystems thawed',
    );
    return { windowMs, error };
  };
  return {
    frozenAt,
    thaw: () => (result ??= thaw()),
  };
}
