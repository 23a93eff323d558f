/**
 * Readiness: whether the services the controller needs answer (Postgres, RabbitMQ,
 * Keystone), each checked with a time limit and named in the answer. Results are reused for
 * a couple of seconds so a load balancer polling often does not become load itself.
 */
import { toAppError } from '../errors.js';

/** One dependency: resolves when it is usable, throws (with a reason) when not. */
export interface ReadinessCheck {
  name: string;
  check: (signal: AbortSignal) => Promise<void>;
}

export interface CheckResult {
  ok: boolean;
  /** Why not, when not ok (a code and a message, never a secret). */
  error?: string;
  ms: number;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

export interface ReadinessOptions {
  timeoutMs?: number;
  reuseMs?: number;
  now?: () => number;
}

/** Runs the checks in parallel; a check that takes longer than the limit fails. */
export function readinessProbe(
  checks: readonly ReadinessCheck[],
  options: ReadinessOptions = {},
): () => Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const reuseMs = options.reuseMs ?? 2000;
  const now = options.now ?? Date.now;
  let last: { at: number; value: Promise<Readiness> } | null = null;

  const runOne = async (c: ReadinessCheck): Promise<[string, CheckResult]> => {
    const started = now();
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await Promise.race([
        c.check(signal),
        new Promise<never>((_, reject) => {
          signal.addEventListener(
            'abort',
            () => reject(new Error(`no answer within ${timeoutMs} ms`)),
            { once: true },
          );
        }),
      ]);
      return [c.name, { ok: true, ms: now() - started }];
    } catch (err) {
      const e = toAppError(err);
      return [c.name, { ok: false, error: `${e.code}: ${e.message}`, ms: now() - started }];
    }
  };

  return () => {
    const t = now();
    if (last !== null && t - last.at < reuseMs) return last.value;
    const value = Promise.all(checks.map(runOne)).then((results) => ({
      ready: results.every(([, r]) => r.ok),
      checks: Object.fromEntries(results),
    }));
    last = { at: t, value };
    return value;
  };
}
