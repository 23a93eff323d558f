import { describe, expect, it } from 'vitest';
import { backoffSeconds } from '../../src/jobs/backoff.js';

describe('backoffSeconds', () => {
  it.each([
    [1, 0, 15],
    [1, 0.999999, 30],
    [2, 0, 30],
    [3, 0.5, 90],
    [8, 0, 1800],
    [9, 0, 1800],
    [50, 0.999999, 3600],
  ])('after attempt %i with random %f waits about %f seconds', (attempt, r, expected) => {
    expect(backoffSeconds(attempt, { random: () => r })).toBeCloseTo(expected, 1);
  });

  it('never exceeds the cap and never reaches zero', () => {
    for (let attempt = 1; attempt < 40; attempt += 1) {
      const s = backoffSeconds(attempt, { baseSeconds: 5, capSeconds: 60 });
      expect(s).toBeGreaterThanOrEqual(2.5);
      expect(s).toBeLessThanOrEqual(60);
    }
  });
});
