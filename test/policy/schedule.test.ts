import { describe, expect, it } from 'vitest';
import {
  nextDueAt,
  parseSchedule,
  upcomingDueTimes,
  type Schedule,
} from '../../src/policy/schedule.js';

const d = (iso: string): Date => new Date(iso);
const daily: Schedule = { kind: 'interval', everySeconds: 86_400 };
const cron3am: Schedule = { kind: 'cron', expr: '0 3 * * *' };

describe('parseSchedule', () => {
  it.each([
    ['hourly', { kind: 'interval', everySeconds: 3600 }, 'hourly'],
    [' Daily ', { kind: 'interval', everySeconds: 86_400 }, 'daily'],
    ['WEEKLY', { kind: 'interval', everySeconds: 604_800 }, 'weekly'],
    ['monthly', { kind: 'interval', everySeconds: 2_592_000 }, 'monthly'],
    ['0  3 * * *', { kind: 'cron', expr: '0 3 * * *' }, '0 3 * * *'],
  ])('accepts %j', (value, schedule, text) => {
    expect(parseSchedule(value, 3600)).toEqual({ ok: true, schedule, text });
  });

  it.each([
    ['every day', /is not hourly, daily/],
    ['', /is not hourly/],
    ['*/5 * * * *', /runs every 5min, more often than the minimum interval of 1h/],
    ['0,30 * * * *', /runs every 30min/],
    ['0 3 * * * *', /is not hourly/],
    ['0 25 * * *', /cron expression "0 25 \* \* \*": hour value 25/],
  ])('refuses %j', (value, reason) => {
    const r = parseSchedule(value, 3600);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('holds keywords to the minimum interval too', () => {
    const r = parseSchedule('hourly', 86_400);
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(/minimum interval of 1d/) as string,
    });
  });
});

describe('nextDueAt', () => {
  const now = d('2026-11-26T12:00:00Z');
  const base = { lastSuccessAt: null, lastAttemptAt: null, previousDueAt: null, now };

  it.each([
    [
      'an interval volume never backed up is due now',
      { ...base, schedule: daily },
      '2026-11-26T12:00:00.000Z',
    ],
    [
      'an interval volume is due one interval after its last success',
      {
        ...base,
        schedule: daily,
        lastSuccessAt: d('2026-11-26T01:00:00Z'),
        lastAttemptAt: d('2026-11-26T00:50:00Z'),
      },
      '2026-11-27T01:00:00.000Z',
    ],
    [
      'an overdue interval volume stays due in the past (run now)',
      { ...base, schedule: daily, lastSuccessAt: d('2026-11-20T01:00:00Z') },
      '2026-11-21T01:00:00.000Z',
    ],
    [
      'a failed attempt waits the retry delay',
      {
        ...base,
        schedule: daily,
        lastSuccessAt: d('2026-11-20T01:00:00Z'),
        lastAttemptAt: d('2026-11-26T11:30:00Z'),
      },
      '2026-11-26T12:30:00.000Z',
    ],
    [
      'a failure never run before also waits the retry delay',
      {
        ...base,
        schedule: daily,
        lastAttemptAt: d('2026-11-26T11:50:00Z'),
        retryAfterSeconds: 600,
      },
      '2026-11-26T12:00:00.000Z',
    ],
    [
      'a never-run cron volume waits for the next firing',
      { ...base, schedule: cron3am },
      '2026-11-27T03:00:00.000Z',
    ],
    [
      'a never-run cron volume keeps its recorded due time',
      { ...base, schedule: cron3am, previousDueAt: d('2026-11-26T03:00:00Z') },
      '2026-11-26T03:00:00.000Z',
    ],
    [
      'a cron firing missed while the service was down is due at once',
      { ...base, schedule: cron3am, lastSuccessAt: d('2026-11-25T03:05:00Z') },
      '2026-11-26T03:00:00.000Z',
    ],
    [
      'a cron volume reads the expression in the given zone',
      {
        ...base,
        schedule: cron3am,
        lastSuccessAt: d('2026-11-26T02:05:00Z'),
        timeZone: 'Europe/Paris',
      },
      '2026-11-27T02:00:00.000Z',
    ],
  ])('%s', (_name, input, expected) => {
    expect(nextDueAt(input).toISOString()).toBe(expected);
  });
});

describe('upcomingDueTimes', () => {
  const from = new Date('2026-10-24T12:00:00Z');

  it('gives an interval schedule now and then every interval', () => {
    expect(
      upcomingDueTimes({ kind: 'interval', everySeconds: 86_400 }, from, 3).map((d) =>
        d.toISOString(),
      ),
    ).toEqual(['2026-10-24T12:00:00.000Z', '2026-10-25T12:00:00.000Z', '2026-10-26T12:00:00.000Z']);
  });

  it('gives a cron schedule its firings in the zone, once on the fall-back day', () => {
    expect(
      upcomingDueTimes({ kind: 'cron', expr: '30 2 * * *' }, from, 2, 'Europe/Paris').map((d) =>
        d.toISOString(),
      ),
    ).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });
});
