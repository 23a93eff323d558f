/**
 * When a retryable failure gets its next try: exponential in the attempt number, capped,
 * with jitter so that jobs which failed together (a full VG, a restarted database) do not
 * all come back in the same second.
 */
export interface BackoffOptions {
  /** Delay after the first failure, before jitter (default 30 s). */
  baseSeconds?: number;
  /** Largest delay, before jitter (default 1 h). */
  capSeconds?: number;
  /** A number in [0, 1); Math.random by default, fixed in tests. */
  random?: () => number;
}

/**
 * Seconds to wait after failed attempt number `attempt` (1-based): a value in
 * [d/2, d) where d = min(cap, base * 2^(attempt-1)) ("equal jitter": never zero, never
 * more than the cap).
 */
export function backoffSeconds(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseSeconds ?? 30;
  const cap = options.capSeconds ?? 3600;
  const random = options.random ?? Math.random;
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const delay = Math.min(cap, base * 2 ** exponent);
  return delay / 2 + (delay / 2) * random();
}
