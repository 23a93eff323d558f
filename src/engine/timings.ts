/**
 * The per-step wall times a manifest and a restore report carry (`timings` in ms, keyed by
 * step: `snapshot`, `map`, `mount`, `archive:p1`, `cleanup`, `total`, …).
 */
export type Timings = Record<string, number>;

/** Runs `step` and adds its wall time (also when it throws) to `timings[key]`. */
export async function timed<T>(timings: Timings, key: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await step();
  } finally {
    timings[key] = (timings[key] ?? 0) + (Date.now() - started);
  }
}
