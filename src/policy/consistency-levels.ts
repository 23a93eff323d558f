/**
 * Consistency levels and how a backup's steps decide the level it reached. Pure.
 * - `crash`: an LVM snapshot of a volume in use (what a power cut would leave);
 * - `filesystem`: the filesystems inside the instance were frozen around the snapshot;
 * - `application`: a database dump was taken inside the instance and stored with the backup.
 */

export const LEVELS = ['crash', 'filesystem', 'application'] as const;
export type Level = (typeof LEVELS)[number];

export type StepName = 'mysqldump' | 'fsfreeze';

/** What one consistency step did. */
export interface StepOutcome {
  step: StepName;
  ok: boolean;
  /** Stable error code and message when it failed. */
  code?: string;
  reason?: string;
  durationMs: number;
}

/** Which steps a backup was asked to take. */
export interface StepsAsked {
  mysqldump: boolean;
  freeze: boolean;
}

export function isLevel(v: unknown): v is Level {
  return typeof v === 'string' && (LEVELS as readonly string[]).includes(v);
}

export function levelRank(l: Level): number {
  return LEVELS.indexOf(l);
}

/** The level the asked steps lead to when they all succeed. */
export function impliedLevel(asked: StepsAsked): Level {
  if (asked.mysqldump) return 'application';
  if (asked.freeze) return 'filesystem';
  return 'crash';
}

/**
 * The level to demand: an explicit one, or what the steps imply. An explicit level higher
 * than the steps can reach is a mistake in the request, reported as such.
 */
export function demandedLevel(
  explicit: Level | null,
  asked: StepsAsked,
): { ok: true; level: Level } | { ok: false; reason: string } {
  const implied = impliedLevel(asked);
  if (explicit === null) return { ok: true, level: implied };
  if (explicit === 'application' && !asked.mysqldump) {
    return { ok: false, reason: 'consistency "application" needs a database dump (mysqldump)' };
  }
  if (explicit === 'filesystem' && !asked.freeze) {
    return { ok: false, reason: 'consistency "filesystem" needs mount points to freeze' };
  }
  return { ok: true, level: explicit };
}

/**
 * The highest level all of whose asked steps succeeded: `application` needs the dump and,
 * when a freeze was asked too, the freeze; `filesystem` needs the freeze.
 */
export function reachedLevel(asked: StepsAsked, outcomes: readonly StepOutcome[]): Level {
  const ok = (s: StepName): boolean => outcomes.some((o) => o.step === s && o.ok);
  const freezeOk = !asked.freeze || ok('fsfreeze');
  if (asked.mysqldump && ok('mysqldump') && freezeOk) return 'application';
  if (asked.freeze && ok('fsfreeze')) return 'filesystem';
  return 'crash';
}

/** Why the reached level is below the implied one (the failed steps), or null. */
export function shortfallReason(outcomes: readonly StepOutcome[]): string | null {
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length === 0) return null;
  return failed.map((o) => `${o.step}: ${o.code ?? 'FAILED'}: ${o.reason ?? 'failed'}`).join('; ');
}
