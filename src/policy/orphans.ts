/**
 * Backups of volumes that are gone: deleted in Cinder, or switched off (no policy: the
 * tag removed or `backup=off`). Pure: the controller decides with it when to queue their
 * prune, and the agent decides again with it before deleting (the volume may have been
 * re-tagged between the two).
 *
 * Rules (README "Backups of deleted and switched-off volumes"):
 * - the grace period runs from when the volume went (deleted_at, or since when it has had
 *   no policy; the earlier when both); within it nothing of its backups is deleted, so
 *   the newest good one is there whatever happens;
 * - once it has passed, every backup of the volume is pruned, newest first (an
 *   incremental before the backups it depends on, so an interrupted prune never leaves a
 *   backup whose chain is gone);
 * - a volume with a policy error is not off (a typo in a tag deletes nothing), and a volume
 *   that has a policy again (or reappears in Cinder) is back under its retention.
 */
import type { RetentionCandidate } from './retention.js';

/** What the decision needs of a volume row. */
export interface OrphanVolume {
  deletedAt: Date | null;
  /** Since when it has had no policy (volumes.policy_off_at), or null. */
  policyOffAt: Date | null;
  /** True when it has a policy or a policy error (the scheduler's last record). */
  hasPolicy: boolean;
}

export type OrphanState =
  | { kind: 'live' }
  | {
      kind: 'grace' | 'due';
      gone: 'deleted' | 'off';
      since: Date;
      /** When the grace ends: its backups are pruned from then on. */
      pruneAt: Date;
      /** The reason recorded on each pruned backup ("volume deleted 2026-10-01, grace 30 d"). */
      reason: string;
    };

/** "30 d", "12 h", "90 min", "45 s": a grace as the reason shows it. */
export function graceText(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Where volume `v` stands at `now` with a grace of `graceSeconds`. */
export function orphanState(v: OrphanVolume, graceSeconds: number, now: Date): OrphanState {
  const starts: Date[] = [];
  if (v.deletedAt !== null) starts.push(v.deletedAt);
  if (v.policyOffAt !== null && !v.hasPolicy) starts.push(v.policyOffAt);
  if (starts.length === 0) return { kind: 'live' };
  // The earlier start counts (off in October, deleted in November: gone since October), but
  // a deleted volume is named deleted.
  const since = new Date(Math.min(...starts.map((d) => d.getTime())));
  const gone = v.deletedAt !== null ? 'deleted' : 'off';
  const pruneAt = new Date(since.getTime() + graceSeconds * 1000);
  const what = gone === 'deleted' ? 'volume deleted' : 'backups switched off';
  const reason = `${what} ${since.toISOString().slice(0, 10)}, grace ${graceText(graceSeconds)}`;
  return {
    kind: now.getTime() >= pruneAt.getTime() ? 'due' : 'grace',
    gone,
    since,
    pruneAt,
    reason,
  };
}

/**
 * The backups an orphan prune deletes: every successful, unpruned one, newest first (ties
 * by id, higher is newer), so an incremental goes before what it depends on.
 */
export function orphanBackupsToPrune(backups: readonly RetentionCandidate[]): number[] {
  return backups
    .filter((b) => b.status === 'succeeded' && b.prunedAt === null)
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.id - a.id)
    .map((b) => b.id);
}
