/**
 * The one pause of the code base: `ms` milliseconds, cut short when `signal` aborts; and a
 * wait for work bounded by such a pause.
 */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits `ms` milliseconds; resolves true when the time passed, false as soon as `signal`
 * aborts (at once when it already has). Never rejects on abort: loops check their own
 * stop condition, and callers that must fail on a cancel throw `signal.reason` themselves.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  // A function, so TypeScript does not keep the first answer for after the await.
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted()) return false;
  try {
    await delay(ms, undefined, signal === undefined ? undefined : { signal });
    return true;
  } catch (err) {
    if (aborted()) return false;
    throw err;
  }
}

/**
 * Waits for `work` to settle or `ms` to pass, whichever comes first (never rejects); the
 * timer does not outlive the wait. A bare `sleep(ms)` raced against the work keeps the
 * process alive until it fires: the agent's stop raced its jobs against the stop timeout
 * (600 s by default) that way, and a SIGTERMed agent whose jobs had ended early (a refused
 * event insert failed one) did not exit until the timeout.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([work.then(ignore, ignore), sleep(ms, stop.signal)]);
  } finally {
    stop.abort();
  }
}

function ignore(): void {
  // settledWithin waits; what the work resolved or rejected with is its caller's business.
}
