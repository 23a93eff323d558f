import { describe, expect, it } from 'vitest';
import { graceText, orphanBackupsToPrune, orphanState } from '../../src/policy/orphans.js';
import type { RetentionCandidate } from '../../src/policy/retention.js';

const DAY = 86_400_000;
const GRACE = 30 * 86_400;
const t0 = new Date('2026-10-01T08:00:00Z');
const at = (days: number): Date => new Date(t0.getTime() + days * DAY);

describe('orphanState', () => {
  it('keeps a deleted volume in grace until the grace has passed, then makes it due', () => {
    const v = { deletedAt: t0, policyOffAt: null, hasPolicy: true };
    const inGrace = orphanState(v, GRACE, at(29.9));
    expect(inGrace).toMatchObject({ kind: 'grace', gone: 'deleted', since: t0, pruneAt: at(30) });
    const due = orphanState(v, GRACE, at(30));
    expect(due).toMatchObject({ kind: 'due', gone: 'deleted' });
    expect(due.kind !== 'live' && due.reason).toBe('volume deleted 2026-10-01, grace 30 d');
  });

  it('treats a live volume without a policy as off from policy_off_at', () => {
    const v = { deletedAt: null, policyOffAt: t0, hasPolicy: false };
    expect(orphanState(v, GRACE, at(10)).kind).toBe('grace');
    const due = orphanState(v, GRACE, at(31));
    expect(due).toMatchObject({ kind: 'due', gone: 'off' });
    expect(due.kind !== 'live' && due.reason).toBe('backups switched off 2026-10-01, grace 30 d');
  });

  it('is live when the volume has a policy (or a policy error) again', () => {
    expect(
      orphanState({ deletedAt: null, policyOffAt: t0, hasPolicy: true }, GRACE, at(90)),
    ).toEqual({ kind: 'live' });
    expect(
      orphanState({ deletedAt: null, policyOffAt: null, hasPolicy: false }, GRACE, at(90)),
    ).toEqual({ kind: 'live' });
  });

  it('counts the grace from the earlier of off and deleted, and names it deleted', () => {
    const s = orphanState({ deletedAt: at(20), policyOffAt: t0, hasPolicy: false }, GRACE, at(31));
    expect(s).toMatchObject({ kind: 'due', gone: 'deleted', since: t0 });
  });

  it('writes the grace the way an operator reads it', () => {
    expect([graceText(30 * 86_400), graceText(7200), graceText(5400), graceText(90)]).toEqual([
      '30 d',
      '2 h',
      '90 min',
      '90 s',
    ]);
  });
});

describe('orphanBackupsToPrune', () => {
  const b = (
    id: number,
    day: number,
    extra: Partial<RetentionCandidate> = {},
  ): RetentionCandidate => ({
    id,
    startedAt: at(day),
    status: 'succeeded',
    verifyOk: null,
    prunedAt: null,
    backupId: `b${id}`,
    parentBackupId: null,
    ...extra,
  });

  it('lists every successful unpruned backup, each incremental before what it depends on', () => {
    const rows = [
      b(1, 0),
      b(2, 1, { parentBackupId: 'b1' }),
      b(3, 2, { parentBackupId: 'b2' }),
      b(4, 3),
      b(5, 4, { status: 'failed' }),
      b(6, 5, { prunedAt: at(6) }),
      b(7, 3),
    ];
    const order = orphanBackupsToPrune(rows);
    expect(order).toEqual([7, 4, 3, 2, 1]);
    // The newest good backup goes too: after the grace nothing is kept.
    expect(order).toContain(7);
    for (const r of rows.filter((x) => x.parentBackupId != null)) {
      const parent = rows.find((x) => x.backupId === r.parentBackupId);
      expect(order.indexOf(r.id)).toBeLessThan(order.indexOf(parent?.id ?? -1));
    }
  });
});
