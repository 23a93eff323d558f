import { describe, expect, it } from 'vitest';
import { settledWithin } from '../../src/lifecycle/sleep.js';

/** Timers this process holds (what keeps Node's event loop, and so a process, alive). */
function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('settledWithin', () => {
  it('returns when the work settles and leaves no timer behind', async () => {
    const before = timers();
    const t0 = Date.now();
    await settledWithin(new Promise((r) => setTimeout(r, 20)), 60_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // A bare sleep(60 s) raced against the work would still be pending here.
    expect(timers()).toBe(before);
  });

  it('returns after the bound when the work never settles, and on a rejection', async () => {
    const t0 = Date.now();
    await settledWithin(new Promise(() => undefined), 50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    await expect(settledWithin(Promise.reject(new Error('refused')), 60_000)).resolves.toBe(
      undefined,
    );
  });
});
