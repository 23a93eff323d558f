import { describe, expect, it } from 'vitest';
import { decideVolume } from '../../src/jobs/scheduler-decision.js';
import type { SchedulableVolume } from '../../src/jobs/scheduler-queries.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';

const now = new Date('2026-11-26T12:00:00Z');
const settings = { limits: DEFAULT_POLICY_LIMITS, timeZone: 'UTC', retryAfterSeconds: 3600 };
const base: SchedulableVolume = {
  id: 'v',
  status: 'available',
  backendHost: 'stor1@lvm',
  lvName: 'volume-v',
  metadata: { backup: 'daily' },
  policy: null,
  nextDueAt: null,
  skipReason: null,
  deletedAt: null,
  lastSuccessAt: null,
  lastAttemptAt: null,
  hasOpenBackupJob: false,
};

describe('decideVolume', () => {
  it.each<
    [
      string,
      Partial<SchedulableVolume>,
      { enqueue: boolean; skip: RegExp | null; due: string | null },
    ]
  >([
    [
      'a new daily volume runs now',
      {},
      { enqueue: true, skip: null, due: '2026-11-26T12:00:00.000Z' },
    ],
    [
      'an in-use volume runs too',
      { status: 'in-use' },
      { enqueue: true, skip: null, due: '2026-11-26T12:00:00.000Z' },
    ],
    [
      'a volume backed up an hour ago waits a day',
      {
        lastSuccessAt: new Date('2026-11-26T11:00:00Z'),
        lastAttemptAt: new Date('2026-11-26T10:55:00Z'),
      },
      { enqueue: false, skip: null, due: '2026-11-27T11:00:00.000Z' },
    ],
    [
      'an open job blocks a second',
      { hasOpenBackupJob: true },
      { enqueue: false, skip: null, due: '2026-11-26T12:00:00.000Z' },
    ],
    ...[
      'creating',
      'deleting',
      'error',
      'maintenance',
      'extending',
      'retyping',
      'backing-up',
      'error_deleting',
    ].map(
      (
        status,
      ): [
        string,
        Partial<SchedulableVolume>,
        { enqueue: boolean; skip: RegExp | null; due: string | null },
      ] => [
        `status ${status} is skipped with a reason`,
        { status },
        {
          enqueue: false,
          skip: new RegExp(`status is "${status}"`),
          due: '2026-11-26T12:00:00.000Z',
        },
      ],
    ),
    [
      'no backend host is skipped',
      { backendHost: null },
      { enqueue: false, skip: /no backend host/, due: '2026-11-26T12:00:00.000Z' },
    ],
    ['untagged makes no decision', { metadata: {} }, { enqueue: false, skip: null, due: null }],
    [
      'a policy error makes no job',
      { metadata: { backup: 'often' } },
      { enqueue: false, skip: null, due: null },
    ],
    [
      'a never-run cron volume keeps its recorded due time for the same schedule',
      {
        metadata: { backup: '0 3 * * *' },
        policy: { scheduleText: '0 3 * * *' },
        nextDueAt: new Date('2026-11-26T03:00:00Z'),
      },
      { enqueue: true, skip: null, due: '2026-11-26T03:00:00.000Z' },
    ],
    [
      'a changed schedule starts afresh',
      {
        metadata: { backup: '0 3 * * *' },
        policy: { scheduleText: 'weekly' },
        nextDueAt: new Date('2026-11-26T03:00:00Z'),
      },
      { enqueue: false, skip: null, due: '2026-11-27T03:00:00.000Z' },
    ],
  ])('%s', (_name, patch, expected) => {
    const d = decideVolume({ ...base, ...patch }, now, settings);
    expect(d.enqueue).toBe(expected.enqueue);
    if (expected.skip === null) expect(d.skipReason).toBeNull();
    else expect(d.skipReason).toMatch(expected.skip);
    expect(d.nextDueAt?.toISOString() ?? null).toBe(expected.due);
  });
});
