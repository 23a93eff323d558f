/**
 * Writing down work that is already done. Once the engine has finished a backup, the
 * archive exists: a database write that fails because Postgres dropped the connection or
 * is restarting must be tried again, not turned into a failed attempt (the job would then
 * run a second time and leave the first archive an orphan).
 */
import { toAppError } from '../errors.js';
import { jitteredBackoff } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';
import type { Logger } from '../log.js';

/**
 * Failures that end when Postgres is back: the write is tried again. CONNECTION_LOST is
 * what a restarting server gives (ECONNREFUSED while it is down): without it a backup that
 * finished during a restart was failed, its job left 'running' until the lease lapsed, and
 * run a second time (2 of 120 jobs in a reliability run with a server restart).
 */
const TRANSIENT = new Set(['DB_UNAVAILABLE', 'DB_CONFLICT', 'CONNECTION_LOST']);

/**
 * Runs `write` until it succeeds, retrying transient database failures with a capped
 * backoff (0.25 s doubling to 4 s) for as long as `signal` has not aborted. The job's
 * signal aborts when its lease can no longer be renewed (the agent gives the job up before
 * another agent may take it), so the retries never outlive the lease. Other errors, and
 * the last transient one once the signal aborted, are thrown.
 */
export async function persistResult<T>(
  what: string,
  write: () => Promise<T>,
  opts: { signal: AbortSignal; logger: Logger },
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (err) {
      const e = toAppError(err);
      if (!TRANSIENT.has(e.code) || opts.signal.aborted) throw err;
      const ms = jitteredBackoff(attempt, { base: 250, cap: 4000 });
      opts.logger.warn({ err, attempt, retryInMs: Math.round(ms) }, `cannot record ${what} yet`);
      await sleep(ms, opts.signal);
    }
  }
}
