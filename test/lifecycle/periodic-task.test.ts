import { describe, expect, it } from 'vitest';
import { PeriodicTask } from '../../src/lifecycle/periodic-task.js';
import { sleep } from '../../src/lifecycle/sleep.js';
import { silentLogger } from '../../src/log.js';

describe('PeriodicTask', () => {
  it('runs at once, then after each interval, never two runs at once', async () => {
    let running = 0;
    let overlap = false;
    const task = new PeriodicTask(
      'test',
      0.02,
      async () => {
        running += 1;
        if (running > 1) overlap = true;
        await sleep(30);
        running -= 1;
      },
      silentLogger,
    );
    task.start();
    await sleep(200);
    await task.stop();
    expect(task.runs).toBeGreaterThanOrEqual(2);
    expect(overlap).toBe(false);
  });

  it('aborts the signal of a run in progress when stopped, and stop waits for it', async () => {
    let sawAbort = false;
    let ended = false;
    const task = new PeriodicTask(
      'long',
      60,
      async (signal) => {
        const completed = await sleep(60_000, signal);
        sawAbort = !completed && signal.aborted;
        ended = true;
      },
      silentLogger,
    );
    task.start();
    await sleep(50);
    const t0 = performance.now();
    await task.stop();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(ended).toBe(true);
    expect(sawAbort).toBe(true);
  });
});
