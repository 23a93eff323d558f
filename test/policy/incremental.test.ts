import { describe, expect, it } from 'vitest';
import {
  chooseLevel,
  incrementalFrom,
  parseFullEvery,
  parseIncrementalSwitch,
  type ChainCandidate,
  type IncrementalPolicy,
} from '../../src/policy/incremental.js';
import { DEFAULT_POLICY_LIMITS, parsePolicy } from '../../src/policy/policy.js';

const DAY = 86_400_000;
const NOW = new Date('2026-12-08T03:00:00Z');
const DEST = '/backups';

const b = (
  id: string,
  daysAgo: number,
  parent: string | null,
  over: Partial<ChainCandidate> = {},
): ChainCandidate => ({
  backupId: id,
  status: 'succeeded',
  prunedAt: null,
  verifyOk: null,
  startedAt: new Date(NOW.getTime() - daysAgo * DAY),
  location: `${DEST}/volume-x/${id}`,
  manifestPath: `${DEST}/volume-x/${id}/manifest.json`,
  parentBackupId: parent,
  ...over,
});

const weekly: IncrementalPolicy = {
  enabled: true,
  fullEvery: { kind: 'days', days: 7, text: 'weekly' },
};

describe('backup:full and backup:incremental', () => {
  it.each([
    ['weekly', { kind: 'days', days: 7, text: 'weekly' }],
    [' Daily ', { kind: 'days', days: 1, text: 'daily' }],
    ['every=4', { kind: 'count', count: 4, text: 'every=4' }],
  ])('reads %j', (text, value) => {
    expect(parseFullEvery(text)).toEqual({ ok: true, value });
  });

  it.each(['yearly', 'every=0', 'every=1000', 'every=-1', ''])('refuses %j', (text) => {
    expect(parseFullEvery(text).ok).toBe(false);
  });

  it('reads on and off, and refuses the rest', () => {
    expect(parseIncrementalSwitch('off')).toEqual({ ok: true, value: false });
    expect(parseIncrementalSwitch('ON')).toEqual({ ok: true, value: true });
    expect(parseIncrementalSwitch('sometimes').ok).toBe(false);
  });

  it('makes them part of the policy, with the operator default and problems named', () => {
    const off = parsePolicy({ backup: 'daily', 'backup:incremental': 'off' });
    expect(off.kind === 'policy' && off.policy.incremental.enabled).toBe(false);
    const limits = {
      ...DEFAULT_POLICY_LIMITS,
      defaultIncremental: { enabled: false, fullEvery: weekly.fullEvery },
    };
    const dflt = parsePolicy({ backup: 'daily' }, limits);
    expect(dflt.kind === 'policy' && dflt.policy.incremental.enabled).toBe(false);
    const bad = parsePolicy({ backup: 'daily', 'backup:full': 'yearly' });
    expect(bad).toMatchObject({ kind: 'error', problems: [{ key: 'backup:full' }] });
  });

  it('reads a stored policy back, and anything odd as off', () => {
    expect(incrementalFrom({ enabled: true, fullEvery: { text: 'every=3' } })).toEqual({
      enabled: true,
      fullEvery: { kind: 'count', count: 3, text: 'every=3' },
    });
    expect(incrementalFrom(undefined).enabled).toBe(false);
    expect(incrementalFrom({ enabled: true, fullEvery: { text: 'hourly' } }).enabled).toBe(false);
  });
});

describe('chooseLevel', () => {
  it('is full when off, or when there is nothing to build on', () => {
    expect(chooseLevel({ ...weekly, enabled: false }, [b('A', 1, null)], DEST, NOW)).toEqual({
      kind: 'full',
      reason: 'incremental backups are off',
    });
    expect(chooseLevel(weekly, [], DEST, NOW)).toMatchObject({ kind: 'full' });
    expect(chooseLevel(weekly, [b('A', 1, null, { status: 'failed' })], DEST, NOW)).toMatchObject({
      kind: 'full',
      reason: 'no good backup on /backups',
    });
  });

  it('builds on the newest good backup on the same destination', () => {
    const list = [
      b('A', 3, null),
      b('B', 2, 'A'),
      b('C', 1, 'B'),
      b('D', 0.5, 'C', { location: '/other/D' }),
    ];
    const choice = chooseLevel(weekly, list, DEST, NOW);
    expect(choice).toMatchObject({
      kind: 'incremental',
      chainLength: 3,
      parent: { backupId: 'C' },
    });
  });

  it('skips a newest backup that failed its verify, and refuses a broken chain', () => {
    const list = [b('A', 3, null), b('B', 2, 'A', { verifyOk: false })];
    expect(chooseLevel(weekly, list, DEST, NOW)).toMatchObject({ parent: { backupId: 'A' } });
    const pruned = [b('A', 3, null, { prunedAt: NOW }), b('B', 2, 'A')];
    expect(chooseLevel(weekly, pruned, DEST, NOW)).toMatchObject({
      kind: 'full',
      reason: expect.stringMatching(/chain lacks A/) as unknown,
    });
  });

  it('starts a new chain when the full backup is a week old (an hour of slack)', () => {
    const fresh = [b('A', 6.97, null), b('B', 1, 'A')];
    expect(chooseLevel(weekly, fresh, DEST, NOW).kind).toBe('full');
    const young = [b('A', 6.5, null), b('B', 1, 'A')];
    expect(chooseLevel(weekly, young, DEST, NOW).kind).toBe('incremental');
  });

  it('starts a new chain after N backups with every=N', () => {
    const every3: IncrementalPolicy = {
      enabled: true,
      fullEvery: { kind: 'count', count: 3, text: 'every=3' },
    };
    expect(chooseLevel(every3, [b('A', 2, null), b('B', 1, 'A')], DEST, NOW).kind).toBe(
      'incremental',
    );
    expect(
      chooseLevel(every3, [b('A', 3, null), b('B', 2, 'A'), b('C', 1, 'B')], DEST, NOW),
    ).toMatchObject({ kind: 'full', reason: expect.stringMatching(/every=3/) as unknown });
  });
});
