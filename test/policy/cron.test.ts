import { describe, expect, it } from 'vitest';
import {
  CronParseError,
  nextCronFire,
  parseCron,
  shortestCronGapSeconds,
} from '../../src/policy/cron.js';

const at = (iso: string): Date => new Date(iso);

describe('parseCron', () => {
  it.each([
    ['* * * * *', 60, 24, 31, 12, 7],
    ['0 3 * * *', 1, 1, 31, 12, 7],
    ['*/15 0-6/2 1,15 jan-mar mon-fri', 4, 4, 2, 3, 5],
    ['5 4 * * 7', 1, 1, 31, 12, 1],
    ['0 0 * * sun,0,7', 1, 1, 31, 12, 1],
    ['10/20 * * * *', 3, 24, 31, 12, 7],
  ])('parses "%s" into the right value sets', (src, mins, hours, doms, months, dows) => {
    const e = parseCron(src);
    expect([
      e.minutes.size,
      e.hours.size,
      e.daysOfMonth.size,
      e.months.size,
      e.daysOfWeek.size,
    ]).toEqual([mins, hours, doms, months, dows]);
  });

  it.each([
    ['0 3 * *', /expected 5 fields/],
    ['0 3 * * * *', /expected 5 fields/],
    ['60 * * * *', /minute value 60 is out of range/],
    ['* 24 * * *', /hour value 24/],
    ['* * 0 * *', /day of month value 0/],
    ['* * * 13 *', /month value 13/],
    ['* * * * 8', /day of week value 8/],
    ['*/0 * * * *', /step "0"/],
    ['5-1 * * * *', /runs backwards/],
    ['a * * * *', /not a number or a known name/],
    ['1,,2 * * * *', /empty list element/],
    ['1-2-3 * * * *', /malformed/],
    ['0 0 31 2 *', /never occurs/],
    ['0 0 30 feb *', /never occurs/],
    ['$(reboot) * * * *', /not a number/],
  ])('refuses "%s"', (src, reason) => {
    expect(() => parseCron(src)).toThrow(CronParseError);
    expect(() => parseCron(src)).toThrow(reason);
  });

  it('refuses absurdly long expressions', () => {
    expect(() => parseCron(`${'1,'.repeat(150)}1 * * * *`)).toThrow(/longer than 200/);
  });
});

describe('nextCronFire in UTC', () => {
  it.each([
    ['0 3 * * *', '2026-11-26T02:59:00Z', '2026-11-26T03:00:00.000Z'],
    ['0 3 * * *', '2026-11-26T03:00:00Z', '2026-11-27T03:00:00.000Z'],
    ['0 3 * * *', '2026-12-31T04:00:00Z', '2027-01-01T03:00:00.000Z'],
    ['*/15 * * * *', '2026-11-26T10:07:30Z', '2026-11-26T10:15:00.000Z'],
    ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['30 2 * * mon', '2026-11-26T00:00:00Z', '2026-11-30T02:30:00.000Z'],
    // Both day fields restricted: either matches (crontab(5)). Nov 27 2026 is a Friday.
    ['0 12 1 * fri', '2026-11-26T13:00:00Z', '2026-11-27T12:00:00.000Z'],
    ['0 12 1 * fri', '2026-11-27T13:00:00Z', '2026-12-01T12:00:00.000Z'],
    ['0 0 1 1 *', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['15,45 */6 * * *', '2026-11-26T06:46:00Z', '2026-11-26T12:15:00.000Z'],
    ['15,45 */6 * * *', '2026-11-26T06:15:00Z', '2026-11-26T06:45:00.000Z'],
    ['0 1 * * *', '2026-11-26T23:30:00Z', '2026-11-27T01:00:00.000Z'],
    ['59 23 31 12 *', '2026-12-31T23:59:00Z', '2027-12-31T23:59:00.000Z'],
    ['5 0 * * *', '2026-11-30T23:59:59Z', '2026-12-01T00:05:00.000Z'],
  ])('"%s" after %s fires at %s', (src, after, expected) => {
    expect(nextCronFire(parseCron(src), at(after))?.toISOString()).toBe(expected);
  });
});

describe('nextCronFire in a zone with DST', () => {
  // Europe/Paris: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
  it('reads the expression on the zone wall clock', () => {
    const fire = nextCronFire(parseCron('0 3 * * *'), at('2026-07-01T00:00:00Z'), 'Europe/Paris');
    expect(fire?.toISOString()).toBe('2026-07-01T01:00:00.000Z');
  });

  it('skips a wall time that does not exist on the spring-forward day', () => {
    const fire = nextCronFire(parseCron('30 2 * * *'), at('2026-03-28T12:00:00Z'), 'Europe/Paris');
    expect(fire?.toISOString()).toBe('2026-03-30T00:30:00.000Z');
  });

  it('fires once, at the first occurrence, for a wall time that repeats on fall-back day', () => {
    const expr = parseCron('30 2 * * *');
    const first = nextCronFire(expr, at('2026-10-24T12:00:00Z'), 'Europe/Paris');
    expect(first?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    const second = nextCronFire(expr, first as Date, 'Europe/Paris');
    expect(second?.toISOString()).toBe('2026-10-26T01:30:00.000Z');
  });

  it('keeps an hourly schedule hourly across fall-back, firing each wall minute once', () => {
    const expr = parseCron('0 * * * *');
    const fires: string[] = [];
    let t: Date | null = at('2026-10-24T22:30:00Z');
    for (let i = 0; i < 5 && t !== null; i += 1) {
      t = nextCronFire(expr, t, 'Europe/Paris');
      if (t !== null) fires.push(t.toISOString());
    }
    // Wall 01:00, 02:00 (CEST), [02:00 CET skipped as a repeat], 03:00, 04:00, 05:00.
    expect(fires).toEqual([
      '2026-10-24T23:00:00.000Z',
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
      '2026-10-25T04:00:00.000Z',
    ]);
  });
});

describe('shortestCronGapSeconds', () => {
  it.each([
    ['* * * * *', 60],
    ['0 * * * *', 3600],
    ['0 3 * * *', 86_400],
    ['0,1 3 * * *', 60],
    ['0 3 * * 1', 7 * 86_400],
    ['0 0 1 * *', 28 * 86_400],
  ])('"%s" has a shortest gap of %i s', (src, gap) => {
    expect(shortestCronGapSeconds(parseCron(src))).toBe(gap);
  });
});
