/**
 * Which backups of a volume retention keeps and which it prunes: a pure function of the
 * backups, the policy, the clock and a time zone.
 *
 * Rules, each keeping a set; a backup survives when any rule keeps it:
 * - `keepLast` N: the N newest successful backups;
 * - `daily`/`weekly`/`monthly` N (grandfather-father-son): the newest successful backup of
 *   each of the N most recent local days / ISO weeks / months that have one;
 * - `maxAgeDays` D: successful backups started at most D days before `now`.
 * Safety rails, whatever the policy says:
 * - only successful backups count toward any rule, so failed newer backups never push a
 *   good one out (and failed rows have no archives to delete);
 * - the newest successful backup and the newest backup that verified good are always kept
 *   (a volume whose backups keep failing does not lose its last good copy to age);
 * - an empty policy prunes nothing; running and already-pruned rows are never selected.
 * Chains (incremental backups): a backup is restorable only with every backup below it.
 * - a kept incremental keeps its whole chain down to the full backup (reason `chain`,
 *   with the kept backups that need it): keeping one costs its chain's length;
 * - an incremental whose chain is already broken (an ancestor pruned, failed or unknown)
 *   restores nothing: it counts toward no rule and is pruned;
 * - so a backup is pruned only when no kept backup depends on it; whole chains go once
 *   nothing in them is kept, and `prune` lists descendants before their ancestors.
 */
import { AppError } from '../errors.js';
import { isValidTimeZone, wallClockOf } from './time-zone.js';

export interface RetentionPolicy {
  keepLast?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  maxAgeDays?: number;
}

/** What retention needs to know of a backup row. */
export interface RetentionCandidate {
  id: number;
  startedAt: Date;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** Outcome of the last verify, null when never verified. */
  verifyOk: boolean | null;
  prunedAt: Date | null;
  /** The engine's backup id and, for an incremental backup, its parent's (else null). */
  backupId?: string | null;
  parentBackupId?: string | null;
}

export type KeepReason =
  | 'last'
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'max-age'
  | 'newest-success'
  | 'newest-verified'
  | 'chain';

export interface RetentionDecision {
  /**
   * Successful, unpruned backups that stay, with every rule that keeps them; a backup kept
   * because kept incrementals need it has reason `chain` and their ids in `neededBy`.
   */
  keep: { id: number; reasons: KeepReason[]; neededBy?: number[] }[];
  /** Successful, unpruned backups whose archives go, newest first. */
  prune: number[];
}

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of the instant's local calendar day in `timeZone`. */
function localDay(instant: Date, timeZone: string): string {
  return new Date(wallClockOf(instant.getTime(), timeZone)).toISOString().slice(0, 10);
}

/** `YYYY-Www` ISO week (weeks start on Monday; week 1 holds the year's first Thursday). */
function localIsoWeek(instant: Date, timeZone: string): string {
  const wall = new Date(wallClockOf(instant.getTime(), timeZone));
  const day = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  const thursday = new Date(day + (3 - weekday) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function localMonth(instant: Date, timeZone: string): string {
  return localDay(instant, timeZone).slice(0, 7);
}

function checkCount(name: string, n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
    throw new AppError('POLICY_INVALID', `retention ${name} must be a whole number ≥ 0 (got ${n})`);
  }
}

/**
 * Chooses the backups to prune. `backups` may come in any order; ties on `startedAt` are
 * broken by id (higher is newer).
 */
export function selectForPruning(
  backups: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  clock: { now: Date; timeZone: string },
): RetentionDecision {
  for (const k of ['keepLast', 'daily', 'weekly', 'monthly', 'maxAgeDays'] as const) {
    checkCount(k, policy[k]);
  }
  if (!isValidTimeZone(clock.timeZone)) {
    throw new AppError('POLICY_INVALID', `unknown time zone "${clock.timeZone}"`);
  }
  const unpruned = backups
    .filter((b) => b.status === 'succeeded' && b.prunedAt === null)
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.id - a.id);
  const byBackupId = new Map(
    unpruned.filter((b) => b.backupId != null).map((b) => [b.backupId as string, b]),
  );
  /** The backups `b` needs (its ancestors, parent first), or null when one is gone. */
  const ancestors = (b: RetentionCandidate): RetentionCandidate[] | null => {
    const out: RetentionCandidate[] = [];
    let cur = b;
    while (cur.parentBackupId != null) {
      const parent = byBackupId.get(cur.parentBackupId);
      if (parent === undefined || out.includes(parent)) return null;
      out.push(parent);
      cur = parent;
    }
    return out;
  };
  const chains = new Map(unpruned.map((b) => [b.id, ancestors(b)]));
  // A broken chain restores nothing: its backups count toward no rule (and are pruned).
  const good = unpruned.filter((b) => chains.get(b.id) !== null);
  const reasons = new Map<number, KeepReason[]>(good.map((b) => [b.id, []]));
  const keepBecause = (id: number, reason: KeepReason): void => {
    reasons.get(id)?.push(reason);
  };
  const anyRule = (['keepLast', 'daily', 'weekly', 'monthly', 'maxAgeDays'] as const).some(
    (k) => policy[k] !== undefined,
  );
  if (!anyRule) {
    return { keep: unpruned.map((b) => ({ id: b.id, reasons: [] })), prune: [] };
  }

  good.slice(0, policy.keepLast ?? 0).forEach((b) => keepBecause(b.id, 'last'));

  const buckets: [KeepReason, number | undefined, (d: Date, tz: string) => string][] = [
    ['daily', policy.daily, localDay],
    ['weekly', policy.weekly, localIsoWeek],
    ['monthly', policy.monthly, localMonth],
  ];
  for (const [reason, count, bucketOf] of buckets) {
    if (count === undefined || count === 0) continue;
    const seen = new Set<string>();
    // Newest first: the first backup met in a bucket is that bucket's newest.
    for (const b of good) {
      if (seen.size >= count) break;
      const key = bucketOf(b.startedAt, clock.timeZone);
      if (seen.has(key)) continue;
      seen.add(key);
      keepBecause(b.id, reason);
    }
  }

  if (policy.maxAgeDays !== undefined) {
    const oldest = clock.now.getTime() - policy.maxAgeDays * DAY_MS;
    for (const b of good) if (b.startedAt.getTime() >= oldest) keepBecause(b.id, 'max-age');
  }

  const newest = good[0];
  if (newest !== undefined) keepBecause(newest.id, 'newest-success');
  const newestVerified = good.find((b) => b.verifyOk === true);
  if (newestVerified !== undefined) keepBecause(newestVerified.id, 'newest-verified');

  // What a kept incremental needs is kept too.
  const neededBy = new Map<number, number[]>();
  for (const b of good) {
    if ((reasons.get(b.id) ?? []).length === 0) continue;
    for (const a of chains.get(b.id) ?? [])
      neededBy.set(a.id, [...(neededBy.get(a.id) ?? []), b.id]);
  }
  const keep: RetentionDecision['keep'] = [];
  const prune: number[] = [];
  for (const b of unpruned) {
    const r = reasons.get(b.id) ?? [];
    const needers = neededBy.get(b.id);
    if (needers !== undefined) r.push('chain');
    if (r.length > 0)
      keep.push({ id: b.id, reasons: r, ...(needers ? { neededBy: needers } : {}) });
    else prune.push(b.id);
  }
  return { keep, prune };
}
