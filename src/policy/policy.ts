/**
 * A volume's backup metadata → its backup policy, or the reasons it makes none.
 *
 * Keys (set in Horizon or with `openstack volume set --property KEY=VALUE VOL`):
 * - `backup`: hourly | daily | weekly | monthly | a 5-field cron expression | off
 *   (`on`/`enabled`/`true`/`yes` mean the operator's default schedule);
 * - `backup:retention`: `7d`, `last=10`, `daily=7,weekly=4,monthly=6` (combinable);
 * - `backup:on`: events that also trigger a backup (`detach`, `resize`, ...);
 * - `backup:exclude`: comma-separated path globs inside the filesystems;
 * - `backup:mysqldump`, `backup:freeze`: application consistency (SSH into the instance);
 * - `backup:consistency`: crash | filesystem | application, the level a backup must reach
 *   (default: what the two keys above ask for; `crash` makes them best effort);
 * - `backup:incremental`: on | off, and `backup:full`: daily | weekly | monthly | every=N,
 *   how often a full backup starts a new chain (see incremental.ts; defaults: the
 *   operator's).
 * Any other `backup:*` key is refused, so a typo (`backup:retension`) is reported rather
 * than silently ignored. A volume with an error gets no backups until it is fixed.
 */
import { demandedLevel, type Level } from './consistency-levels.js';
import {
  parseConsistency,
  parseMysqldump,
  parseFreeze,
  type FreezeOption,
  type MysqldumpOption,
} from './consistency-options.js';
import { parseCron, shortestCronGapSeconds } from './cron.js';
import { parseExcludes } from './exclude-patterns.js';
import { parseRetention, type RetentionSpec } from './retention-spec.js';
import { parseSchedule, type Schedule } from './schedule.js';
import { parseTriggerEvents, type TriggerEvent } from './trigger-events.js';
import {
  DEFAULT_INCREMENTAL,
  MAX_CHAIN_LENGTH,
  parseFullEvery,
  parseIncrementalSwitch,
  type IncrementalPolicy,
} from './incremental.js';

/** What the controller runs for a tagged volume. */
export interface BackupPolicy {
  schedule: Schedule;
  /** The schedule as the user wrote it, normalized (`daily`, `0 3 * * *`). */
  scheduleText: string;
  retention: RetentionSpec;
  onEvents: TriggerEvent[];
  excludes: string[];
  mysqldump: MysqldumpOption | null;
  freeze: FreezeOption | null;
  /** The level demanded by `backup:consistency`, or null (what the steps imply). */
  consistency: Level | null;
  /** Incremental chains: on or off, and how often a full backup starts a new one. */
  incremental: IncrementalPolicy;
}

/** One refused key and why. */
export interface PolicyProblem {
  key: string;
  reason: string;
}

/** Operator-wide defaults and ceilings (config). */
export interface PolicyLimits {
  /** Shortest schedule a tenant may ask for. */
  minIntervalSeconds: number;
  /** Schedule used for `backup=on` (a keyword or cron expression). */
  defaultSchedule: string;
  /** Retention when `backup:retention` is absent. */
  defaultRetention: RetentionSpec;
  maxKeepLast: number;
  maxDaily: number;
  maxWeekly: number;
  maxMonthly: number;
  maxAgeDays: number;
  /**
   * Most backups one volume may keep: the retention's rules added up, an age rule counted
   * as the schedule's firings in that age, must stay within it.
   */
  maxBackupsPerVolume: number;
  maxExcludePatterns: number;
  maxExcludePatternLength: number;
  /** Longest metadata value looked at; Cinder itself caps values at 255. */
  maxValueLength: number;
  /** Incremental backups when `backup:incremental` / `backup:full` are absent. */
  defaultIncremental: IncrementalPolicy;
}

export const DEFAULT_POLICY_LIMITS: PolicyLimits = {
  minIntervalSeconds: 3600,
  defaultSchedule: 'daily',
  defaultRetention: { daily: 7, weekly: 4, monthly: 6 },
  maxKeepLast: 100,
  maxDaily: 62,
  maxWeekly: 52,
  maxMonthly: 36,
  maxAgeDays: 3 * 366,
  maxBackupsPerVolume: 2500,
  maxExcludePatterns: 32,
  maxExcludePatternLength: 255,
  maxValueLength: 1024,
  defaultIncremental: DEFAULT_INCREMENTAL,
};

/** The outcome: no tag, tagged off, a policy, or the problems that prevent one. */
export type PolicyResult =
  | { kind: 'untagged' }
  | { kind: 'off' }
  | { kind: 'policy'; policy: BackupPolicy }
  | { kind: 'error'; problems: PolicyProblem[]; message: string };

export const POLICY_KEYS = [
  'backup',
  'backup:retention',
  'backup:on',
  'backup:exclude',
  'backup:mysqldump',
  'backup:freeze',
  'backup:consistency',
  'backup:incremental',
  'backup:full',
] as const;

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const ON_WORDS = new Set(['on', 'enabled', 'true', 'yes']);
const OFF_WORDS = new Set(['off', 'disabled', 'false', 'no', 'none']);

/** A key shown in an error: printable and short, whatever the tenant typed. */
function showKey(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key);
}

/**
 * Decides a volume's policy from its metadata. Pure: same input, same result. Values that
 * are not strings (Cinder only stores strings, but the inventory is JSON) are refused.
 */
export function parsePolicy(
  metadata: Readonly<Record<string, unknown>>,
  limits: PolicyLimits = DEFAULT_POLICY_LIMITS,
): PolicyResult {
  const problems: PolicyProblem[] = [];
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(metadata)) {
    if (key !== 'backup' && !key.startsWith('backup:')) continue;
    if (!(POLICY_KEYS as readonly string[]).includes(key)) {
      problems.push({
        key,
        reason: `unknown key ${showKey(key)}; known keys: ${POLICY_KEYS.join(', ')}`,
      });
      continue;
    }
    if (typeof value !== 'string') {
      problems.push({ key, reason: `${key} must be a string, not ${typeof value}` });
      continue;
    }
    if (CONTROL.test(value)) {
      problems.push({ key, reason: `${key} holds a control character` });
      continue;
    }
    if (value.length > limits.maxValueLength) {
      problems.push({ key, reason: `${key} is longer than ${limits.maxValueLength} characters` });
      continue;
    }
    values.set(key, value);
  }
  const scheduleValue = values.get('backup');
  if (scheduleValue === undefined && !problems.some((p) => p.key === 'backup')) {
    // Options without `backup=` make no policy; typos in them are still worth reporting.
    return problems.length > 0 ? failure(problems) : { kind: 'untagged' };
  }
  const word = (scheduleValue ?? '').trim().toLowerCase();
  if (OFF_WORDS.has(word)) return { kind: 'off' };

  let schedule: Schedule | null = null;
  let scheduleText = '';
  if (scheduleValue !== undefined) {
    const parsed = parseSchedule(
      ON_WORDS.has(word) ? limits.defaultSchedule : scheduleValue,
      limits.minIntervalSeconds,
    );
    if (parsed.ok) {
      schedule = parsed.schedule;
      scheduleText = parsed.text;
    } else {
      problems.push({ key: 'backup', reason: parsed.reason });
    }
  }

  let retention: RetentionSpec = { ...limits.defaultRetention };
  const retentionValue = values.get('backup:retention');
  if (retentionValue !== undefined) {
    const parsed = parseRetention(retentionValue, limits);
    if (parsed.ok) retention = parsed.retention;
    else problems.push({ key: 'backup:retention', reason: parsed.reason });
  }

  let onEvents: TriggerEvent[] = [];
  const onValue = values.get('backup:on');
  if (onValue !== undefined) {
    const parsed = parseTriggerEvents(onValue);
    if (parsed.ok) onEvents = parsed.events;
    else problems.push({ key: 'backup:on', reason: parsed.reason });
  }

  let excludes: string[] = [];
  const excludeValue = values.get('backup:exclude');
  if (excludeValue !== undefined) {
    const parsed = parseExcludes(excludeValue, {
      maxPatterns: limits.maxExcludePatterns,
      maxPatternLength: limits.maxExcludePatternLength,
    });
    if (parsed.ok) excludes = parsed.patterns;
    else problems.push({ key: 'backup:exclude', reason: parsed.reason });
  }

  let mysqldump: MysqldumpOption | null = null;
  const mysqlValue = values.get('backup:mysqldump');
  if (mysqlValue !== undefined) {
    const parsed = parseMysqldump(mysqlValue);
    if (parsed.ok) mysqldump = parsed.value;
    else problems.push({ key: 'backup:mysqldump', reason: parsed.reason });
  }

  let freeze: FreezeOption | null = null;
  const freezeValue = values.get('backup:freeze');
  if (freezeValue !== undefined) {
    const parsed = parseFreeze(freezeValue);
    if (parsed.ok) freeze = parsed.value;
    else problems.push({ key: 'backup:freeze', reason: parsed.reason });
  }

  let consistency: Level | null = null;
  const consistencyValue = values.get('backup:consistency');
  if (consistencyValue !== undefined) {
    const parsed = parseConsistency(consistencyValue);
    if (!parsed.ok) problems.push({ key: 'backup:consistency', reason: parsed.reason });
    else {
      consistency = parsed.value;
      const d = demandedLevel(consistency, {
        mysqldump: mysqldump !== null,
        freeze: freeze !== null,
      });
      if (!d.ok) problems.push({ key: 'backup:consistency', reason: d.reason });
    }
  }

  const incremental: IncrementalPolicy = { ...limits.defaultIncremental };
  const switchValue = values.get('backup:incremental');
  if (switchValue !== undefined) {
    const parsed = parseIncrementalSwitch(switchValue);
    if (parsed.ok) incremental.enabled = parsed.value;
    else problems.push({ key: 'backup:incremental', reason: parsed.reason });
  }
  const fullValue = values.get('backup:full');
  if (fullValue !== undefined) {
    const parsed = parseFullEvery(fullValue);
    if (parsed.ok) incremental.fullEvery = parsed.value;
    else problems.push({ key: 'backup:full', reason: parsed.reason });
  }

  // Checked last: chains depend on backup:incremental and backup:full.
  if (
    schedule !== null &&
    !problems.some((p) => ['backup:retention', 'backup:incremental', 'backup:full'].includes(p.key))
  ) {
    const chain = longestChain(incremental, scheduleGapSeconds(schedule));
    const most = mostKept(retention, schedule, chain);
    if (most > limits.maxBackupsPerVolume) {
      const chains =
        chain > 1
          ? ` and incremental chains of up to ${chain} backups (backup:full=${incremental.fullEvery.text}; a kept backup keeps its chain)`
          : '';
      problems.push({
        key: 'backup:retention',
        reason: `retention with schedule "${scheduleText}"${chains} could keep ${most} backups; the maximum per volume is ${limits.maxBackupsPerVolume}`,
      });
    }
  }

  if (problems.length > 0 || schedule === null) return failure(problems);
  return {
    kind: 'policy',
    policy: {
      schedule,
      scheduleText,
      retention,
      onEvents,
      excludes,
      mysqldump,
      freeze,
      consistency,
      incremental,
    },
  };
}

/** The shortest time between two firings of the schedule, in seconds (at least 1). */
function scheduleGapSeconds(schedule: Schedule): number {
  const every =
    schedule.kind === 'interval'
      ? schedule.everySeconds
      : shortestCronGapSeconds(parseCron(schedule.expr));
  return Math.max(every, 1);
}

/**
 * The most backups one incremental chain (its full backup included) can hold when backups
 * come every `every` seconds: `every=N` holds N; `daily`/`weekly`/`monthly` start a new chain
 * once the full backup is that old less an hour (chooseLevel's slack), and chainOf takes a
 * chain longer than 2 × MAX_CHAIN_LENGTH for a loop, which also starts a new one.
 */
export function longestChain(inc: IncrementalPolicy, every: number): number {
  if (!inc.enabled) return 1;
  if (inc.fullEvery.kind === 'count') return inc.fullEvery.count;
  const span = inc.fullEvery.days * 86_400 - 3600;
  return Math.min(Math.max(1, Math.ceil(span / every)), 2 * MAX_CHAIN_LENGTH + 2);
}

/**
 * The most backups `retention` can keep with `schedule` when each kept backup also keeps
 * the `chain - 1` backups it may depend on (see retention.ts). An upper bound, rule by rule:
 * - `last=N` and `Nd` keep the newest backups, one run: the longer of the two, plus the
 *   ancestors of its oldest;
 * - `daily`/`weekly`/`monthly=N` keep one backup per day/week/month: at most N chains, and
 *   at most every backup of those N periods plus the ancestors of the oldest.
 * Without chains (`chain` 1) this is each rule's count, the two runs counted once.
 */
function mostKept(retention: RetentionSpec, schedule: Schedule, chain: number): number {
  const every = scheduleGapSeconds(schedule);
  const firings = (days: number): number => Math.ceil((days * 86_400) / every);
  const byAge = retention.maxAgeDays === undefined ? 0 : firings(retention.maxAgeDays) + 1;
  const run = Math.max(retention.keepLast ?? 0, byAge);
  let most = run === 0 ? 0 : run + chain - 1;
  for (const [count, days] of [
    [retention.daily, 1],
    [retention.weekly, 7],
    [retention.monthly, 31],
  ] as const) {
    if (count === undefined || count === 0) continue;
    most += Math.min(count * chain, firings(count * days) + chain - 1);
  }
  return most;
}

function failure(problems: PolicyProblem[]): PolicyResult {
  return { kind: 'error', problems, message: problems.map((p) => p.reason).join('; ') };
}
