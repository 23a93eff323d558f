/**
 * The one pause of the code base: `ms` milliseconds, cut short when `signal` aborts.
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
