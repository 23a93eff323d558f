/**
 * Incremental backups in a volume's policy, pure:
 * - `backup:incremental`: `on` or `off` (default: the operator's `[policy] incremental`);
 * - `backup:full`: how often a full backup starts a new chain: `daily`, `weekly`,
 *   `monthly` (the chain's full backup is that old) or `every=N` (a chain holds at most N
 *   backups, the full one included); default the operator's `[policy] full_every`.
 * And the choice for the next backup: a full one (and why) or incremental on the newest
 * good backup whose chain is intact.
 */

export type FullEvery =
  { kind: 'days'; days: number; text: string } | { kind: 'count'; count: number; text: string };

export interface IncrementalPolicy {
  enabled: boolean;
  fullEvery: FullEvery;
}

/** What the operator gets without configuring anything. */
export const DEFAULT_INCREMENTAL: IncrementalPolicy = {
  enabled: true,
  fullEvery: { kind: 'days', days: 7, text: 'weekly' },
};

/** Longest chain `every=N` may ask for: restoring replays every level. */
export const MAX_CHAIN_LENGTH = 100;

const WORDS: Readonly<Record<string, number>> = { daily: 1, weekly: 7, monthly: 30 };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** `daily`, `weekly`, `monthly` or `every=N` (2 ≤ … N ≤ MAX_CHAIN_LENGTH; 1 means always full). */
export function parseFullEvery(value: string): Parsed<FullEvery> {
  const text = value.trim().toLowerCase();
  const days = WORDS[text];
  if (days !== undefined) return { ok: true, value: { kind: 'days', days, text } };
  const m = /^every\s*=\s*(\d{1,4})$/.exec(text);
  if (m !== null) {
    const count = Number(m[1]);
    if (count < 1 || count > MAX_CHAIN_LENGTH) {
      return { ok: false, reason: `backup:full every=N needs 1 ≤ N ≤ ${MAX_CHAIN_LENGTH}` };
    }
    return { ok: true, value: { kind: 'count', count, text: `every=${count}` } };
  }
  return {
    ok: false,
    reason: `backup:full "${value.slice(0, 40)}" is not daily, weekly, monthly or every=N`,
  };
}

const ON = new Set(['on', 'true', 'yes', 'enabled']);
const OFF = new Set(['off', 'false', 'no', 'disabled']);

export function parseIncrementalSwitch(value: string): Parsed<boolean> {
  const w = value.trim().toLowerCase();
  if (ON.has(w)) return { ok: true, value: true };
  if (OFF.has(w)) return { ok: true, value: false };
  return { ok: false, reason: `backup:incremental "${value.slice(0, 40)}" is not on or off` };
}

/** Reads an IncrementalPolicy back from stored JSON; anything unexpected means off. */
export function incrementalFrom(value: unknown): IncrementalPolicy {
  const off: IncrementalPolicy = { enabled: false, fullEvery: DEFAULT_INCREMENTAL.fullEvery };
  if (typeof value !== 'object' || value === null) return off;
  const v = value as Record<string, unknown>;
  const fe = v['fullEvery'] as Record<string, unknown> | undefined;
  if (v['enabled'] !== true || typeof fe?.['text'] !== 'string') return off;
  const parsed = parseFullEvery(fe['text']);
  return parsed.ok ? { enabled: true, fullEvery: parsed.value } : off;
}

/** What the chooser needs of a backup row. */
export interface ChainCandidate {
  backupId: string | null;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  prunedAt: Date | null;
  verifyOk: boolean | null;
  startedAt: Date;
  /** The backup's directory, to tell the destination it is on. */
  location: string | null;
  manifestPath: string | null;
  parentBackupId: string | null;
}

export type LevelChoice =
  | { kind: 'full'; reason: string }
  | { kind: 'incremental'; parent: ChainCandidate; chainLength: number };

const DAY_MS = 86_400_000;
/** A daily schedule fires about every 24 h: a chain that is a few minutes short is due. */
const SLACK_MS = 3_600_000;

function usable(b: ChainCandidate, dest: string): boolean {
  return (
    b.status === 'succeeded' &&
    b.prunedAt === null &&
    b.verifyOk !== false &&
    b.backupId !== null &&
    b.manifestPath !== null &&
    b.location !== null &&
    b.location.startsWith(dest.endsWith('/') ? dest : `${dest}/`)
  );
}

/**
 * The chain ending at `b`, root first, or why it is not intact (an ancestor missing,
 * failed, pruned, failed its verify, or on another destination).
 */
export function chainOf(
  b: ChainCandidate,
  byId: ReadonlyMap<string, ChainCandidate>,
  dest: string,
): { chain: ChainCandidate[] } | { broken: string } {
  const chain = [b];
  let cur = b;
  while (cur.parentBackupId !== null) {
    const parent = byId.get(cur.parentBackupId);
    if (parent === undefined || !usable(parent, dest)) {
      return { broken: `its chain lacks ${cur.parentBackupId} (missing, failed, pruned or bad)` };
    }
    if (chain.length > MAX_CHAIN_LENGTH * 2) return { broken: 'its chain loops' };
    chain.unshift(parent);
    cur = parent;
  }
  return { chain };
}

/**
 * The next backup of a volume: full when the policy says so or no backup can be built on,
 * else incremental on the newest good backup on `dest` whose chain is intact.
 */
export function chooseLevel(
  policy: IncrementalPolicy,
  backups: readonly ChainCandidate[],
  dest: string,
  now: Date,
): LevelChoice {
  if (!policy.enabled) return { kind: 'full', reason: 'incremental backups are off' };
  const byId = new Map(
    backups.filter((b) => b.backupId !== null).map((b) => [b.backupId as string, b]),
  );
  const good = backups
    .filter((b) => usable(b, dest))
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
  const newest = good[0];
  if (newest === undefined) return { kind: 'full', reason: `no good backup on ${dest}` };
  const found = chainOf(newest, byId, dest);
  if ('broken' in found) {
    return { kind: 'full', reason: `newest backup ${String(newest.backupId)}: ${found.broken}` };
  }
  const root = found.chain[0] as ChainCandidate;
  const fe = policy.fullEvery;
  if (fe.kind === 'count' && found.chain.length + 1 > fe.count) {
    return {
      kind: 'full',
      reason: `backup:full ${fe.text}: the chain of ${String(root.backupId)} holds ${found.chain.length}`,
    };
  }
  if (
    fe.kind === 'days' &&
    now.getTime() - root.startedAt.getTime() >= fe.days * DAY_MS - SLACK_MS
  ) {
    return {
      kind: 'full',
      reason: `backup:full ${fe.text}: the chain's full backup ${String(root.backupId)} is from ${root.startedAt.toISOString()}`,
    };
  }
  return { kind: 'incremental', parent: newest, chainLength: found.chain.length };
}
