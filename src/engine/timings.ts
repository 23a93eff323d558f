/**
 * The per-step wall times a manifest and a restore report carry (`timings` in ms, keyed by
 * step: `snapshot`, `map`, `mount`, `archive:p1`, `cleanup`, `total`, …).
 */
export type Timings = Record<string, number>;

/**
 * The key of a snapshot's lifetime in a backup's timings: from the start of `lvcreate` to
 * the end of `lvremove` (backup --lv only). Not a step: it spans snapshot, map, mount,
 * archive, check and part of cleanup.
 */
export const SNAPSHOT_LIFETIME = 'snapshotLifetime';

/** Runs `step` and adds its wall time (also when it throws) to `timings[key]`. */
export async function timed<T>(timings: Timings, key: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await step();
  } finally {
    timings[key] = (timings[key] ?? 0) + (Date.now() - started);
  }
}
