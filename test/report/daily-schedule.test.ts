import { describe, expect, it } from 'vitest';
import { latestDailyPeriod, parseReportTime } from '../../src/report/daily-schedule.js';

describe('daily report time', () => {
  it('parses HH:MM and refuses anything else', () => {
    expect(parseReportTime('07:00')).toEqual({ hour: 7, minute: 0 });
    expect(parseReportTime('23:59')).toEqual({ hour: 23, minute: 59 });
    for (const bad of ['7:00', '24:00', '07:60', '0700', '07:00:00', '']) {
      expect(parseReportTime(bad)).toBeNull();
    }
  });

  it('is due at the local time of the zone: 07:00 Paris is 06:00 UTC in winter', () => {
    const at = { hour: 7, minute: 0 };
    const p = latestDailyPeriod(new Date('2026-12-01T06:00:30Z'), at, 'Europe/Paris');
    expect(p.period).toBe('2026-12-01');
    expect(p.windowEnd.toISOString()).toBe('2026-12-01T06:00:00.000Z');
    expect(p.windowStart.toISOString()).toBe('2026-11-30T06:00:00.000Z');
    // A minute before it is due, the latest report is the day before's.
    const before = latestDailyPeriod(new Date('2026-12-01T05:59:00Z'), at, 'Europe/Paris');
    expect(before.period).toBe('2026-11-30');
  });

  it('covers 23 hours on the day the clocks go forward', () => {
    const p = latestDailyPeriod(
      new Date('2026-03-29T12:00:00Z'),
      { hour: 7, minute: 0 },
      'Europe/Paris',
    );
    expect(p.period).toBe('2026-03-29');
    expect(p.windowEnd.getTime() - p.windowStart.getTime()).toBe(23 * 3600_000);
  });

  it('takes the instant the clock jumps to when the time does not exist', () => {
    const p = latestDailyPeriod(
      new Date('2026-03-29T12:00:00Z'),
      { hour: 2, minute: 30 },
      'Europe/Paris',
    );
    // 02:30 does not exist that night; 03:30 CEST (01:30 UTC) is when it comes.
    expect(p.windowEnd.toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });
});
