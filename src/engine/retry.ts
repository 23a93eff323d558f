/**
 * Bounded retries for teardown commands that fail while a device is briefly still in use
 * (umount, kpartx -d, lvremove right after a process exited).
 */
import { AppError } from '../errors.js';

const BUSY = /busy|in use|is used by|is open|still mounted|resource temporarily/i;

/** Whether an error looks like a transient "device in use". */
export function isBusyError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const details = err instanceof AppError ? JSON.stringify(err.details ?? {}) : '';
  return BUSY.test(err.message) || BUSY.test(details);
}

/** Runs `fn`, retrying "in use" failures up to `attempts` times with a growing pause. */
export async function withBusyRetries<T>(
  fn: () => Promise<T>,
  attempts = 6,
  firstDelayMs = 250,
): Promise<T> {
  let delay = firstDelayMs;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isBusyError(err)) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }
}
