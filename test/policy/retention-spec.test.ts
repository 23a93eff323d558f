import { describe, expect, it } from 'vitest';
import { parseRetention } from '../../src/policy/retention-spec.js';

const limits = { maxKeepLast: 100, maxDaily: 62, maxWeekly: 52, maxMonthly: 36, maxAgeDays: 1098 };

describe('parseRetention', () => {
  it.each([
    ['7d', { maxAgeDays: 7 }],
    ['2w', { maxAgeDays: 14 }],
    ['last=10', { keepLast: 10 }],
    ['daily=7,weekly=4,monthly=6', { daily: 7, weekly: 4, monthly: 6 }],
    [' Daily = 7 , WEEKLY=4 ', { daily: 7, weekly: 4 }],
    ['last=3,daily=7,30d', { keepLast: 3, daily: 7, maxAgeDays: 30 }],
  ])('parses %j', (value, expected) => {
    expect(parseRetention(value, limits)).toEqual({ ok: true, retention: expected });
  });

  it.each([
    ['', /empty/],
    ['forever', /is not Nd, Nw, last=N/],
    ['7', /is not Nd/],
    ['last=0', /must be at least 1/],
    ['0d', /at least 1d/],
    ['last=-1', /is not Nd/],
    ['last=1000', /last=1000 exceeds the maximum of 100/],
    ['5000d', /exceeds the maximum of 1098d/],
    ['daily=7,daily=8', /gives "daily" twice/],
    ['7d,14d', /age twice/],
    ['hourly=24', /is not Nd/],
    ['last=1e3', /is not Nd/],
    ['x'.repeat(101), /longer than 100/],
  ])('refuses %j', (value, reason) => {
    const r = parseRetention(value, limits);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});
