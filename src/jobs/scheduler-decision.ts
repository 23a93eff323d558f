/**
 * What the scheduler decides for one volume (pure): its policy from the metadata, when its
 * next backup is due, whether to enqueue one now, and why not when it cannot run.
 */
import { backupBlockedReason } from '../policy/backup-eligibility.js';
import { parsePolicy, type PolicyLimits, type PolicyResult } from '../policy/policy.js';
import { nextDueAt } from '../policy/schedule.js';
import type { SchedulableVolume } from './scheduler-queries.js';

export interface SchedulerSettings {
  limits: PolicyLimits;
  /** Zone in which cron expressions are read. */
  timeZone: string;
  /** Pause after a failed backup before the schedule tries again (capped at the interval). */
  retryAfterSeconds: number;
}

export interface VolumeDecision {
  policy: PolicyResult;
  nextDueAt: Date | null;
  skipReason: string | null;
  enqueue: boolean;
}

function storedScheduleText(policy: Record<string, unknown> | null): string | null {
  const t = policy?.['scheduleText'];
  return typeof t === 'string' ? t : null;
}

/** Decides for one volume at `now`. */
export function decideVolume(
  v: SchedulableVolume,
  now: Date,
  s: SchedulerSettings,
): VolumeDecision {
  const policy = parsePolicy(v.metadata, s.limits);
  if (policy.kind !== 'policy')
    return { policy, nextDueAt: null, skipReason: null, enqueue: false };
  // A due time recorded for the same schedule anchors a never-run cron volume; a changed
  // schedule starts afresh.
  const sameSchedule = storedScheduleText(v.policy) === policy.policy.scheduleText;
  const due = nextDueAt({
    schedule: policy.policy.schedule,
    lastSuccessAt: v.lastSuccessAt,
    lastAttemptAt: v.lastAttemptAt,
    previousDueAt: sameSchedule ? v.nextDueAt : null,
    now,
    timeZone: s.timeZone,
    retryAfterSeconds: s.retryAfterSeconds,
  });
  const blocked = backupBlockedReason(v);
  const isDue = due.getTime() <= now.getTime();
  return {
    policy,
    nextDueAt: due,
    skipReason: blocked,
    enqueue: isDue && blocked === null && !v.hasOpenBackupJob,
  };
}
