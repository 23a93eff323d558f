/**
 * The one backoff of the code base: how long to wait before the next try of something that
 * failed (a job, an HTTP request, an AMQP reconnect, a notification). Exponential in the
 * attempt number, capped, with jitter so that whatever failed together (a full VG, a
 * restarted database or broker) does not all come back in the same instant.
 */
export interface BackoffOptions {
  /** Delay after the first failure, before jitter, in the unit the caller wants back. */
  base: number;
  /** Largest delay, before jitter, same unit. */
  cap: number;
  /** A number in [0, 1); Math.random by default, fixed in tests. */
  random?: () => number;
}

/**
 * The wait after failed attempt number `attempt` (1-based): a value in [d/2, d] where
 * d = min(cap, base * 2^(attempt-1)) ("equal jitter": never zero, never above the cap).
 */
export function jitteredBackoff(attempt: number, o: BackoffOptions): number {
  const random = o.random ?? Math.random;
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const d = Math.min(o.cap, o.base * 2 ** exponent);
  return d / 2 + (d / 2) * random();
}
