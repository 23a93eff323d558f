/**
 * Whether a volume's last good backup is older than its policy allows: the backup its
 * schedule asked for after the last success was due more than a grace period ago and has
 * not succeeded. Failures push the scheduler's next_due_at back (retry wait), so this is
 * computed from the schedule and the last success alone.
 */
import { nextDueAt } from '../policy/schedule.js';
import type { Schedule } from '../policy/schedule.js';
import { formatDuration } from './duration.js';

export interface AgeVerdict {
  tooOld: boolean;
  /** Why, for the report: "last good backup 2 d 3 h ago; daily allows 1 d". */
  reason: string;
}

/** The schedule of a stored policy, checked field by field (the JSON is not trusted). */
export function scheduleOf(policy: Record<string, unknown> | null): Schedule | null {
  const s = policy?.['schedule'];
  if (typeof s !== 'object' || s === null) return null;
  const r = s as Record<string, unknown>;
  if (r['kind'] === 'interval' && typeof r['everySeconds'] === 'number' && r['everySeconds'] > 0)
    return { kind: 'interval', everySeconds: r['everySeconds'] };
  if (r['kind'] === 'cron' && typeof r['expr'] === 'string')
    return { kind: 'cron', expr: r['expr'] };
  return null;
}

export interface AgeInput {
  schedule: Schedule;
  scheduleText: string;
  lastSuccessAt: Date | null;
  /** The scheduler's due time: what a volume that never succeeded is measured by. */
  nextDueAt: Date | null;
  now: Date;
  timeZone: string;
  graceSeconds: number;
}

export function judgeAge(a: AgeInput): AgeVerdict {
  const grace = a.graceSeconds * 1000;
  if (a.lastSuccessAt === null) {
    const overdue = a.nextDueAt !== null && a.nextDueAt.getTime() + grace < a.now.getTime();
    return {
      tooOld: overdue,
      reason: overdue
        ? `never backed up; first backup was due ${formatDuration((a.now.getTime() - (a.nextDueAt?.getTime() ?? 0)) / 1000)} ago`
        : 'never backed up yet',
    };
  }
  let due: Date;
  try {
    due = nextDueAt({
      schedule: a.schedule,
      lastSuccessAt: a.lastSuccessAt,
      lastAttemptAt: null,
      previousDueAt: null,
      now: a.now,
      timeZone: a.timeZone,
    });
  } catch {
    // A stored cron expression that no longer parses: say so rather than guess.
    return { tooOld: false, reason: `schedule "${a.scheduleText}" cannot be read` };
  }
  const age = (a.now.getTime() - a.lastSuccessAt.getTime()) / 1000;
  const tooOld = due.getTime() + grace < a.now.getTime();
  const allowed = (due.getTime() - a.lastSuccessAt.getTime()) / 1000;
  return {
    tooOld,
    reason: `last good backup ${formatDuration(age)} ago; ${a.scheduleText} allows ${formatDuration(allowed)}`,
  };
}
