import { describe, expect, it } from 'vitest';
import { jitteredBackoff } from '../../src/lifecycle/backoff.js';

const jobs = { base: 30, cap: 3600 };

describe('jitteredBackoff', () => {
  it.each([
    [1, 0, 15],
    [1, 0.999999, 30],
    [2, 0, 30],
    [3, 0.5, 90],
    [8, 0, 1800],
    [9, 0, 1800],
    [50, 0.999999, 3600],
  ])('after attempt %i with random %f waits about %f seconds', (attempt, r, expected) => {
    expect(jitteredBackoff(attempt, { ...jobs, random: () => r })).toBeCloseTo(expected, 1);
  });

  it('never exceeds the cap and never reaches zero', () => {
    for (let attempt = 1; attempt < 40; attempt += 1) {
      const s = jitteredBackoff(attempt, { base: 5, cap: 60 });
      expect(s).toBeGreaterThanOrEqual(2.5);
      expect(s).toBeLessThanOrEqual(60);
    }
  });

  it('works in any unit: milliseconds for reconnects', () => {
    expect(jitteredBackoff(1, { base: 500, cap: 30_000, random: () => 1 })).toBe(500);
    expect(jitteredBackoff(4, { base: 500, cap: 30_000, random: () => 0 })).toBe(2000);
    expect(jitteredBackoff(20, { base: 500, cap: 30_000, random: () => 0 })).toBe(15_000);
  });
});
