/**
 * The `backup` metadata value as a schedule, and when a volume's next backup is due.
 */
import {
  CronParseError,
  nextCronFire,
  nextCronFires,
  parseCron,
  shortestCronGapSeconds,
} from './cron.js';

/** How often a volume is backed up: a fixed interval, or a cron expression. */
export type Schedule = { kind: 'interval'; everySeconds: number } | { kind: 'cron'; expr: string };

/** The keywords a user may write in `backup=` and the interval each stands for. */
export const SCHEDULE_KEYWORDS: Readonly<Record<string, number>> = {
  hourly: 3600,
  daily: 86_400,
  weekly: 7 * 86_400,
  // A month as 30 days: a calendar month would make the interval depend on the date.
  monthly: 30 * 86_400,
};

export type ScheduleParse =
  { ok: true; schedule: Schedule; text: string } | { ok: false; reason: string };

/**
 * Parses a schedule value (`daily`, `0 3 * * *`, ...) and holds it to the minimum interval.
 * `off` and the operator's default keyword are handled by the caller.
 */
export function parseSchedule(value: string, minIntervalSeconds: number): ScheduleParse {
  const text = value.trim();
  const keyword = SCHEDULE_KEYWORDS[text.toLowerCase()];
  let schedule: Schedule;
  let everySeconds: number;
  if (keyword !== undefined) {
    schedule = { kind: 'interval', everySeconds: keyword };
    everySeconds = keyword;
  } else if (/^\S+(\s+\S+){4}$/.test(text)) {
    try {
      const expr = parseCron(text);
      schedule = { kind: 'cron', expr: expr.source };
      everySeconds = shortestCronGapSeconds(expr);
    } catch (err) {
      if (err instanceof CronParseError) {
        return { ok: false, reason: `cron expression "${text}": ${err.message}` };
      }
      throw err;
    }
  } else {
    return {
      ok: false,
      reason: `"${text}" is not hourly, daily, weekly, monthly, off or a 5-field cron expression`,
    };
  }
  if (everySeconds < minIntervalSeconds) {
    return {
      ok: false,
      reason: `schedule "${text}" runs every ${formatSeconds(everySeconds)}, more often than the minimum interval of ${formatSeconds(minIntervalSeconds)}`,
    };
  }
  return {
    ok: true,
    schedule,
    text: schedule.kind === 'cron' ? schedule.expr : text.toLowerCase(),
  };
}

function formatSeconds(s: number): string {
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}min`;
  return `${s}s`;
}

/** What the scheduler knows about a volume when it decides the next due time. */
export interface DueInput {
  schedule: Schedule;
  /** End of the last backup that succeeded, if any. */
  lastSuccessAt: Date | null;
  /** Start of the last attempt (successful or not), if any. */
  lastAttemptAt: Date | null;
  /**
   * The due time recorded earlier for the same schedule, if any: keeps a never-run cron
   * volume anchored instead of sliding forward with every pass.
   */
  previousDueAt: Date | null;
  now: Date;
  /** Zone in which cron expressions are read; default UTC. */
  timeZone?: string;
  /** Wait after a failed attempt before the next one (capped at the interval). */
  retryAfterSeconds?: number;
}

/**
 * The next time a backup is due. A due time at or before `now` means "run now".
 * - interval: last success + interval; never succeeded → due now;
 * - cron: the first firing after the last success; never succeeded → the next firing;
 *   a firing missed while the service was down is due at once, not skipped;
 * - after a failure (last attempt newer than last success) wait at least retryAfterSeconds.
 */
export function nextDueAt(input: DueInput): Date {
  const { schedule, lastSuccessAt, lastAttemptAt, previousDueAt, now } = input;
  const zone = input.timeZone ?? 'UTC';
  let due: number;
  let interval: number;
  if (schedule.kind === 'interval') {
    interval = schedule.everySeconds * 1000;
    due =
      lastSuccessAt !== null
        ? lastSuccessAt.getTime() + interval
        : (previousDueAt?.getTime() ?? now.getTime());
  } else {
    const expr = parseCron(schedule.expr);
    const base = lastSuccessAt ?? null;
    const fire =
      base !== null
        ? nextCronFire(expr, base, zone)
        : previousDueAt !== null
          ? previousDueAt
          : nextCronFire(expr, now, zone);
    // parseCron refuses expressions that never fire, so null means a far-future date.
    due = fire?.getTime() ?? now.getTime() + 366 * 86_400_000;
    interval = shortestCronGapSeconds(expr, 50) * 1000;
  }
  const failedLast =
    lastAttemptAt !== null &&
    (lastSuccessAt === null || lastAttemptAt.getTime() > lastSuccessAt.getTime());
  if (failedLast) {
    const retryMs = Math.min((input.retryAfterSeconds ?? 3600) * 1000, interval);
    due = Math.max(due, lastAttemptAt.getTime() + retryMs);
  }
  return new Date(due);
}

/**
 * The next `count` times a new volume with this schedule is due, from `from`: an interval
 * schedule is due at once and then every interval (each backup assumed to succeed when
 * due); a cron schedule at its next firings in `timeZone`. What `policy check --next`
 * shows.
 */
export function upcomingDueTimes(
  schedule: Schedule,
  from: Date,
  count: number,
  timeZone = 'UTC',
): Date[] {
  if (schedule.kind === 'cron') {
    return nextCronFires(parseCron(schedule.expr), from, count, timeZone);
  }
  return Array.from(
    { length: count },
    (_, i) => new Date(from.getTime() + i * schedule.everySeconds * 1000),
  );
}
