import { describe, expect, it } from 'vitest';
import { selectForPruning, type RetentionCandidate } from '../../src/policy/retention.js';

const clock = { now: new Date('2026-06-15T12:00:00Z'), timeZone: 'UTC' };

/** Backup `id` on day `day` of June, incremental on `parent` (a row id) or full. */
function b(
  id: number,
  day: number,
  parent: number | null,
  over: Partial<RetentionCandidate> = {},
): RetentionCandidate {
  return {
    id,
    startedAt: new Date(`2026-06-${String(day).padStart(2, '0')}T03:00:00Z`),
    status: 'succeeded',
    verifyOk: null,
    prunedAt: null,
    backupId: `B${id}`,
    parentBackupId: parent === null ? null : `B${parent}`,
    ...over,
  };
}

// Two weekly chains: full 1 (June 1) with 2..7 on top, full 8 (June 8) with 9..14.
const twoChains = [
  b(1, 1, null),
  ...[2, 3, 4, 5, 6, 7].map((i) => b(i, i, i - 1)),
  b(8, 8, null),
  ...[9, 10, 11, 12, 13, 14].map((i) => b(i, i, i - 1)),
];

describe('retention of incremental chains', () => {
  it('keeps the whole chain under a kept incremental, and says which backups need it', () => {
    const d = selectForPruning(twoChains, { keepLast: 1 }, clock);
    // Backup 14 is kept; it needs 13 … 8. The first chain goes whole, newest first.
    expect(d.keep.map((k) => k.id)).toEqual([14, 13, 12, 11, 10, 9, 8]);
    expect(d.keep.find((k) => k.id === 8)).toEqual({ id: 8, reasons: ['chain'], neededBy: [14] });
    expect(d.prune).toEqual([7, 6, 5, 4, 3, 2, 1]);
  });

  it('never prunes a backup that a kept one depends on', () => {
    const d = selectForPruning(twoChains, { daily: 3, keepLast: 1 }, clock);
    const kept = new Set(d.keep.map((k) => k.id));
    for (const k of d.keep) {
      let cur = twoChains.find((x) => x.id === k.id);
      while (cur?.parentBackupId != null) {
        const parent = twoChains.find((x) => x.backupId === cur?.parentBackupId);
        expect(kept.has(parent?.id ?? -1), `${k.id} needs ${parent?.id}`).toBe(true);
        cur = parent;
      }
    }
    expect(d.prune).toEqual([7, 6, 5, 4, 3, 2, 1]);
  });

  it('keeps a chain whose old incremental a monthly rule wants', () => {
    const d = selectForPruning(twoChains, { keepLast: 1, monthly: 2 }, clock);
    // June's newest (14) is the monthly one too; May has none: the first chain goes.
    expect(d.prune).toEqual([7, 6, 5, 4, 3, 2, 1]);
    const weekly = selectForPruning(twoChains, { weekly: 2 }, clock);
    // ISO weeks: 14 (Sun 14th, week 24) and 7 (Sun 7th, week 23): 7 needs 1..6.
    expect(weekly.prune).toEqual([]);
    expect(weekly.keep.find((k) => k.id === 1)?.neededBy).toEqual([7]);
  });

  it('prunes an incremental whose chain is broken, and counts it toward no rule', () => {
    const broken = [
      b(1, 1, null, { prunedAt: new Date('2026-06-10T00:00:00Z') }),
      b(2, 2, 1),
      b(3, 3, 2),
      b(8, 8, null),
    ];
    const d = selectForPruning(broken, { keepLast: 2 }, clock);
    // keepLast 2 counts restorable backups only: 8 and … none else; 3 and 2 restore nothing.
    expect(d.keep.map((k) => k.id)).toEqual([8]);
    expect(d.prune).toEqual([3, 2]);
  });

  it('treats rows without chain fields as full backups (catalogs from before chains)', () => {
    const old: RetentionCandidate[] = [1, 2, 3].map((i) => ({
      id: i,
      startedAt: new Date(`2026-06-0${i}T03:00:00Z`),
      status: 'succeeded',
      verifyOk: null,
      prunedAt: null,
    }));
    expect(selectForPruning(old, { keepLast: 1 }, clock).prune).toEqual([2, 1]);
  });
});
