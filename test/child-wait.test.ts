import { describe, expect, it } from 'vitest';
import { waitForChild } from './child-wait.js';

describe('waitForChild', () => {
  it('returns once the condition holds, with the time it took', async () => {
    const ready = Date.now() + 150;
    const ms = await waitForChild('the time', () => Date.now() >= ready, {
      output: () => '',
      everyMs: 10,
    });
    expect(ms).toBeGreaterThanOrEqual(100);
    expect(ms).toBeLessThan(5000);
  });

  it('gives up after the bound, naming the wait and showing the tail of the output', async () => {
    const output = `${'x'.repeat(5000)}the last line`;
    await expect(
      waitForChild('a line that never comes', () => false, {
        output: () => output,
        timeoutMs: 100,
        everyMs: 10,
      }),
    ).rejects.toThrow(
      /^timed out waiting for a line that never comes \(not within 100 ms\); last output:\nx+the last line$/,
    );
    const err = await waitForChild('it', () => false, {
      output: () => output,
      timeoutMs: 0,
    }).catch((e: unknown) => e as Error);
    expect((err as Error).message.split('\n')[1]).toHaveLength(2000);
  });

  it('fails at once when the process is gone and the condition still does not hold', async () => {
    const t0 = Date.now();
    await expect(
      waitForChild('a line', () => false, { output: () => 'exit 1', gone: () => true }),
    ).rejects.toThrow(/\(the process ended after \d+ ms\); last output:\nexit 1$/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('still sees what the process wrote before it ended', async () => {
    await expect(
      waitForChild('a line', () => true, { output: () => '', gone: () => true }),
    ).resolves.toBeGreaterThanOrEqual(0);
  });
});
