import { describe, expect, it } from 'vitest';
import {
  CronParseError,
  nextCronFire,
  nextCronFires,
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
  // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
  it('reads the expression on the zone wall clock', () => {
    const fire = nextCronFire(parseCron('0 3 * * *'), at('2026-07-01T00:00:00Z'), 'Europe/Paris');
    expect(fire?.toISOString()).toBe('2026-07-01T01:00:00.000Z');
  });

  function fires(src: string, after: string, zone: string, n: number): string[] {
    const expr = parseCron(src);
    const out: string[] = [];
    let t: Date | null = at(after);
    for (let i = 0; i < n && t !== null; i += 1) {
      t = nextCronFire(expr, t, zone);
      if (t !== null) out.push(t.toISOString());
    }
    return out;
  }

  it.each([
    // The skipped 02:30 runs once, at the end of the gap (03:00 local), then daily again.
    [
      'Europe/Paris spring',
      '30 2 * * *',
      '2026-03-27T12:00:00Z',
      'Europe/Paris',
      ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
    ],
    [
      'America/New_York spring',
      '30 2 * * *',
      '2026-03-07T00:00:00Z',
      'America/New_York',
      ['2026-03-07T07:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z'],
    ],
    // The repeated time runs once, at its first occurrence (summer time).
    [
      'Europe/Paris fall',
      '30 2 * * *',
      '2026-10-24T12:00:00Z',
      'Europe/Paris',
      ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-27T01:30:00.000Z'],
    ],
    [
      'America/New_York fall',
      '30 1 * * *',
      '2026-10-31T12:00:00Z',
      'America/New_York',
      ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z'],
    ],
  ])('%s: "%s" fires once a day across the change', (_name, src, after, zone, expected) => {
    expect(fires(src, after, zone, 3)).toEqual(expected);
  });

  it.each([
    ['Europe/Paris', '30 2 * * *'],
    ['America/New_York', '30 2 * * *'],
    ['America/New_York', '30 1 * * *'],
    ['Europe/Paris', '0 2 * * 0'],
  ])('in %s, "%s" fires exactly once on each matching local day of 2026', (zone, src) => {
    const day = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    const perDay = new Map<string, number>();
    const expr = parseCron(src);
    let t: Date | null = at('2025-12-31T12:00:00Z');
    for (;;) {
      t = nextCronFire(expr, t, zone);
      if (t === null || t.getTime() >= Date.parse('2027-01-01T12:00:00Z')) break;
      const d = day.format(t);
      if (d.startsWith('2026')) perDay.set(d, (perDay.get(d) ?? 0) + 1);
    }
    const weekly = src.endsWith(' 0');
    expect(perDay.size).toBe(weekly ? 52 : 365);
    expect([...perDay.values()].every((n) => n === 1)).toBe(true);
  });

  it('keeps an hourly schedule hourly in real time across both changes', () => {
    // Fall back: wall 01:00, 02:00 CEST, 02:00 CET (the hour repeats), 03:00, 04:00.
    expect(fires('0 * * * *', '2026-10-24T22:30:00Z', 'Europe/Paris', 5)).toEqual([
      '2026-10-24T23:00:00.000Z',
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
    // Spring forward: wall 00:00 EST, 01:00 EST, 03:00 EDT (02:00 does not exist), 04:00.
    expect(fires('0 * * * *', '2026-03-08T04:30:00Z', 'America/New_York', 4)).toEqual([
      '2026-03-08T05:00:00.000Z',
      '2026-03-08T06:00:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T08:00:00.000Z',
    ]);
  });

  it('lists the next firings', () => {
    expect(
      nextCronFires(parseCron('30 2 * * *'), at('2026-03-28T12:00:00Z'), 2, 'Europe/Paris').map(
        (d) => d.toISOString(),
      ),
    ).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
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
