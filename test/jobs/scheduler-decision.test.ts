import { describe, expect, it } from 'vitest';
import { decideEventBackup, decideVolume } from '../../src/jobs/scheduler-decision.js';
import type { SchedulableVolume } from '../../src/db/volumes.js';
import { DEFAULT_POLICY_LIMITS } from '../../src/policy/policy.js';
import { NO_PROJECT_QUOTA } from '../../src/policy/project-quota.js';

const now = new Date('2026-11-26T12:00:00Z');
const settings = {
  limits: DEFAULT_POLICY_LIMITS,
  timeZone: 'UTC',
  retryAfterSeconds: 3600,
  quota: NO_PROJECT_QUOTA,
};
const base: SchedulableVolume = {
  id: 'v',
  projectId: 'p1',
  status: 'available',
  backendHost: 'stor1@lvm',
  lvName: 'volume-v',
  metadata: { backup: 'daily' },
  policy: null,
  nextDueAt: null,
  skipReason: null,
  quotaError: null,
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

  it('holds back a due volume whose project is at or over its quota, and says why', () => {
    const quota = { defaultBytes: 1000, perProject: new Map([['big', 5000]]) };
    const over = decideVolume(base, now, { ...settings, quota }, 1000);
    expect(over.enqueue).toBe(false);
    expect(over.quotaError).toMatch(/project p1 stores 1000 bytes .* quota of 1000 bytes/);
    // The due time is still recorded: the volume runs once the project is below its quota.
    expect(over.nextDueAt?.toISOString()).toBe('2026-11-26T12:00:00.000Z');
    expect(decideVolume(base, now, { ...settings, quota }, 999)).toMatchObject({
      enqueue: true,
      quotaError: null,
    });
    // A project's own quota overrides the default; 0 there means none.
    const big = { ...base, projectId: 'big' };
    expect(decideVolume(big, now, { ...settings, quota }, 4000).enqueue).toBe(true);
    const free = { defaultBytes: 1000, perProject: new Map([['p1', 0]]) };
    expect(decideVolume(base, now, { ...settings, quota: free }, 10 ** 12).enqueue).toBe(true);
    // Without a quota nothing is held back.
    expect(decideVolume(base, now, settings, 10 ** 15).quotaError).toBeNull();
  });
});

describe('decideEventBackup', () => {
  const detach = { trigger: 'detach' as const, eventAt: now, maxAgeSeconds: 3600 };
  const tagged = { backup: 'daily', 'backup:on': 'detach' };
  const ago = (s: number): Date => new Date(now.getTime() - s * 1000);

  it.each<[string, Partial<SchedulableVolume>, RegExp | null]>([
    ['a listed event on a volume never backed up runs now', {}, null],
    [
      'an event not listed in backup:on does nothing',
      { metadata: { backup: 'daily' } },
      /does not list detach/,
    ],
    ['an untagged volume does nothing', { metadata: {} }, /no backup policy/],
    [
      'backup=off does nothing',
      { metadata: { backup: 'off', 'backup:on': 'detach' } },
      /no backup policy \(off\)/,
    ],
    ['a deleted volume does nothing', { deletedAt: ago(10) }, /deleted/],
    ['a volume in maintenance does nothing', { status: 'maintenance' }, /status is "maintenance"/],
    ['an open backup job is enough', { hasOpenBackupJob: true }, /already open/],
    [
      'a project over its quota (as the last scheduler pass recorded) does nothing',
      { quotaError: 'project p1 stores 5 bytes of backups, at or over its quota of 4 bytes' },
      /at or over its quota/,
    ],
    [
      'a success within the minimum interval (1 h) holds the event back',
      { lastSuccessAt: ago(3599), lastAttemptAt: ago(3700) },
      /minimum interval of 3600 s .* 2026-11-26T12:00:01\.000Z/,
    ],
    [
      'a success a full minimum interval ago lets it run',
      { lastSuccessAt: ago(3600), lastAttemptAt: ago(3700) },
      null,
    ],
    [
      'a failed attempt waits the retry pause, as the schedule does',
      { lastSuccessAt: ago(86_400), lastAttemptAt: ago(600) },
      /minimum interval/,
    ],
  ])('%s', (_name, patch, refused) => {
    const d = decideEventBackup({ ...base, metadata: tagged, ...patch }, detach, now, settings);
    if (refused === null) expect(d).toEqual({ enqueue: true });
    else expect(d).toEqual({ enqueue: false, reason: expect.stringMatching(refused) as string });
  });

  it('ignores an event older than the trigger horizon (a replay)', () => {
    const d = decideEventBackup(
      { ...base, metadata: tagged },
      { ...detach, eventAt: ago(3601) },
      now,
      settings,
    );
    expect(d).toEqual({ enqueue: false, reason: 'the event is older than 3600 s' });
  });

  it('uses the operator minimum interval, not the volume schedule', () => {
    const limits = { ...DEFAULT_POLICY_LIMITS, minIntervalSeconds: 600 };
    const v = { ...base, metadata: tagged, lastSuccessAt: ago(601), lastAttemptAt: ago(700) };
    expect(decideEventBackup(v, detach, now, { ...settings, limits })).toEqual({ enqueue: true });
  });
});
