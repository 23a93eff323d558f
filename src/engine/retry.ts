/**
 * Bounded retries for teardown commands that fail while a device is briefly still in use
 * (umount, kpartx -d, lvremove right after a process exited).
 */
import { commandFailedWith } from '../exec/command-error.js';
import { sleep } from '../lifecycle/sleep.js';

/** What umount, kpartx and lvremove write to stderr while a device is still held. */
const BUSY = /busy|in use|is used by|is open|still mounted|resource temporarily/i;

/** Whether a command failed because a device is (for now) still in use. */
export function isBusyError(err: unknown): boolean {
  return commandFailedWith(err, BUSY);
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
      await sleep(delay);
      delay = Math.min(delay * 2, 2_000);
    }
  }
}
