import { describe, expect, it } from 'vitest';
import {
  selectForPruning,
  type RetentionCandidate,
  type RetentionPolicy,
} from '../../src/policy/retention.js';

type Status = RetentionCandidate['status'];

/** A backup row: [id, ISO start, status?, verifyOk?]. */
function b(
  id: number,
  startedAt: string,
  status: Status = 'succeeded',
  verifyOk: boolean | null = null,
): RetentionCandidate {
  return { id, startedAt: new Date(startedAt), status, verifyOk, prunedAt: null };
}

interface Case {
  name: string;
  backups: RetentionCandidate[];
  policy: RetentionPolicy;
  now?: string;
  timeZone?: string;
  prune: number[];
}

const NOW = '2026-06-15T12:00:00Z';

const cases: Case[] = [
  {
    name: 'prunes nothing when the policy has no rule',
    backups: [b(1, '2020-01-01T00:00:00Z'), b(2, '2021-01-01T00:00:00Z')],
    policy: {},
    prune: [],
  },
  {
    name: 'keeps the N newest with keep-last and prunes the rest, newest first',
    backups: [1, 2, 3, 4, 5].map((i) => b(i, `2026-06-0${i}T10:00:00Z`)),
    policy: { keepLast: 3 },
    prune: [2, 1],
  },
  {
    name: 'does not count failed newer backups toward keep-last',
    backups: [
      b(1, '2026-06-01T10:00:00Z'),
      b(2, '2026-06-02T10:00:00Z'),
      b(3, '2026-06-03T10:00:00Z', 'failed'),
      b(4, '2026-06-04T10:00:00Z', 'failed'),
      b(5, '2026-06-05T10:00:00Z', 'failed'),
    ],
    policy: { keepLast: 2 },
    prune: [],
  },
  {
    name: 'does not count cancelled newer backups toward keep-last',
    backups: [
      b(1, '2026-06-01T10:00:00Z'),
      b(2, '2026-06-02T10:00:00Z'),
      b(3, '2026-06-03T10:00:00Z', 'cancelled'),
      b(4, '2026-06-04T10:00:00Z', 'cancelled'),
    ],
    policy: { keepLast: 2 },
    prune: [],
  },
  {
    name: 'never touches running rows',
    backups: [b(1, '2026-06-01T10:00:00Z'), b(2, '2026-06-02T10:00:00Z', 'running')],
    policy: { keepLast: 1 },
    prune: [],
  },
  {
    name: 'keeps the newest backup of each of the last N days',
    backups: [
      b(1, '2026-06-10T01:00:00Z'),
      b(2, '2026-06-10T13:00:00Z'),
      b(3, '2026-06-11T01:00:00Z'),
      b(4, '2026-06-11T13:00:00Z'),
      b(5, '2026-06-12T01:00:00Z'),
    ],
    policy: { daily: 2 },
    prune: [3, 2, 1],
  },
  {
    name: 'buckets days in the local zone: spring-forward day in Berlin (23 hours)',
    // 2026-03-29 local (Berlin) runs from 2026-03-28T23:00Z to 2026-03-29T22:00Z.
    backups: [
      b(1, '2026-03-28T12:00:00Z'), // 28th 13:00 CET
      b(2, '2026-03-28T23:30:00Z'), // 29th 00:30 CET
      b(3, '2026-03-29T21:30:00Z'), // 29th 23:30 CEST
    ],
    policy: { daily: 2 },
    timeZone: 'Europe/Berlin',
    now: '2026-03-30T00:00:00Z',
    prune: [2],
  },
  {
    name: 'the same backups bucketed in UTC keep a different pair',
    backups: [
      b(1, '2026-03-28T12:00:00Z'),
      b(2, '2026-03-28T23:30:00Z'),
      b(3, '2026-03-29T21:30:00Z'),
    ],
    policy: { daily: 2 },
    timeZone: 'UTC',
    now: '2026-03-30T00:00:00Z',
    prune: [1],
  },
  {
    name: 'treats the 25-hour fall-back day in Berlin as one day',
    // 2026-10-25 local runs from 2026-10-24T22:00Z to 2026-10-25T23:00Z.
    backups: [
      b(1, '2026-10-24T12:00:00Z'), // 24th
      b(2, '2026-10-24T22:30:00Z'), // 25th 00:30 CEST
      b(3, '2026-10-25T22:30:00Z'), // 25th 23:30 CET
    ],
    policy: { daily: 2 },
    timeZone: 'Europe/Berlin',
    now: '2026-10-26T06:00:00Z',
    prune: [2],
  },
  {
    name: 'counts ISO weeks across the new year (2026-W53 holds Dec 31 and Jan 1)',
    backups: [
      b(1, '2026-12-24T10:00:00Z'), // W52
      b(2, '2026-12-31T10:00:00Z'), // W53
      b(3, '2027-01-01T10:00:00Z'), // still 2026-W53
    ],
    policy: { weekly: 2 },
    now: '2027-01-02T00:00:00Z',
    prune: [2],
  },
  {
    name: 'keeps the newest backup of each of the last N months',
    backups: [
      b(1, '2026-03-05T10:00:00Z'),
      b(2, '2026-04-05T10:00:00Z'),
      b(3, '2026-04-25T10:00:00Z'),
      b(4, '2026-05-05T10:00:00Z'),
    ],
    policy: { monthly: 2 },
    prune: [2, 1],
  },
  {
    name: 'combines rules: a backup stays when any rule keeps it',
    backups: [
      b(1, '2026-01-10T10:00:00Z'),
      b(2, '2026-05-01T10:00:00Z'),
      b(3, '2026-06-14T10:00:00Z'),
      b(4, '2026-06-15T10:00:00Z'),
    ],
    // keep-last keeps 4; monthly keeps June's newest (4) and May's (2).
    policy: { keepLast: 1, monthly: 2 },
    prune: [3, 1],
  },
  {
    name: 'keeps a backup exactly maxAgeDays old and prunes one a millisecond older',
    backups: [
      b(1, '2026-06-08T11:59:59.999Z'),
      b(2, '2026-06-08T12:00:00.000Z'),
      b(3, '2026-06-15T11:00:00Z'),
    ],
    policy: { maxAgeDays: 7 },
    prune: [1],
  },
  {
    name: 'keeps a backup dated in the future (clock skew between nodes)',
    backups: [b(1, '2026-06-01T00:00:00Z'), b(2, '2026-06-15T12:05:00Z')],
    policy: { maxAgeDays: 1 },
    prune: [1],
  },
  {
    name: 'keeps the newest good backup when every newer one failed and it aged out',
    backups: [
      b(1, '2026-05-01T10:00:00Z'),
      b(2, '2026-05-02T10:00:00Z'),
      b(3, '2026-06-14T10:00:00Z', 'failed'),
      b(4, '2026-06-15T10:00:00Z', 'failed'),
    ],
    policy: { maxAgeDays: 7 },
    prune: [1],
  },
  {
    name: 'never prunes the newest backup that verified good',
    backups: [
      b(1, '2026-06-01T10:00:00Z', 'succeeded', false),
      b(2, '2026-06-02T10:00:00Z', 'succeeded', true),
      b(3, '2026-06-03T10:00:00Z', 'succeeded', false),
      b(4, '2026-06-04T10:00:00Z', 'succeeded', null),
    ],
    policy: { keepLast: 1 },
    prune: [3, 1],
  },
  {
    name: 'breaks ties on the start time by id',
    backups: [b(7, '2026-06-01T10:00:00Z'), b(8, '2026-06-01T10:00:00Z')],
    policy: { keepLast: 1 },
    prune: [7],
  },
];

describe('selectForPruning', () => {
  it.each(cases)('$name', ({ backups, policy, now, timeZone, prune }) => {
    const decision = selectForPruning(backups, policy, {
      now: new Date(now ?? NOW),
      timeZone: timeZone ?? 'UTC',
    });
    expect(decision.prune).toEqual(prune);
    // Every successful backup is either kept or pruned, never both.
    const succeeded = backups.filter((x) => x.status === 'succeeded').map((x) => x.id);
    expect([...decision.keep.map((k) => k.id), ...decision.prune].sort()).toEqual(succeeded.sort());
  });

  it('ignores backups already pruned', () => {
    const pruned = { ...b(1, '2026-06-01T10:00:00Z'), prunedAt: new Date(NOW) };
    const d = selectForPruning(
      [pruned, b(2, '2026-06-02T10:00:00Z')],
      { keepLast: 1 },
      {
        now: new Date(NOW),
        timeZone: 'UTC',
      },
    );
    expect(d).toEqual({ keep: [{ id: 2, reasons: ['last', 'newest-success'] }], prune: [] });
  });

  it('names every rule that keeps a backup', () => {
    const d = selectForPruning(
      [b(1, '2026-06-14T10:00:00Z', 'succeeded', true), b(2, '2026-06-15T10:00:00Z')],
      { keepLast: 1, daily: 2 },
      { now: new Date(NOW), timeZone: 'UTC' },
    );
    expect(d.keep).toEqual([
      { id: 2, reasons: ['last', 'daily', 'newest-success'] },
      { id: 1, reasons: ['daily', 'newest-verified'] },
    ]);
  });

  it('refuses an unknown time zone and a negative count', () => {
    const clock = { now: new Date(NOW), timeZone: 'UTC' };
    expect(() => selectForPruning([], { keepLast: -1 }, clock)).toThrow(/keepLast/);
    expect(() =>
      selectForPruning([], { daily: 1 }, { now: new Date(NOW), timeZone: 'Mars/Olympus' }),
    ).toThrow(/time zone/);
  });
});
