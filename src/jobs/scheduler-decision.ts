/**
 * Whether a volume gets a backup job now (pure). Two ways lead to one: its schedule comes
 * due (decideVolume, the scheduler's pass) or an event it lists in `backup:on` happens
 * (decideEventBackup, the notification path). Both go through the same gate: the volume
 * has a policy, is in a state where a backup can run, has no open backup job, and its
 * next backup is due: by its schedule, and for an event by the operator's minimum interval
 * (read as a schedule of that interval, with the same wait after a failure), so events
 * cannot bring backups closer together than any schedule may.
 */
import { backupBlockedReason } from '../policy/backup-eligibility.js';
import { parsePolicy, type PolicyLimits, type PolicyResult } from '../policy/policy.js';
import { nextDueAt, type Schedule } from '../policy/schedule.js';
import type { TriggerEvent } from '../policy/trigger-events.js';
import type { SchedulableVolume } from '../db/volumes.js';
import { quotaProblem, type ProjectQuota } from '../policy/project-quota.js';

export interface SchedulerSettings {
  limits: PolicyLimits;
  /** Zone in which cron expressions are read. */
  timeZone: string;
  /** Pause after a failed backup before the schedule tries again (capped at the interval). */
  retryAfterSeconds: number;
  /** Ceilings on the bytes each project's backups may occupy (NO_PROJECT_QUOTA: none). */
  quota: ProjectQuota;
}

export interface VolumeDecision {
  policy: PolicyResult;
  nextDueAt: Date | null;
  skipReason: string | null;
  /** Why the volume's project gets no new backups (at or over its quota), or null. */
  quotaError: string | null;
  enqueue: boolean;
}

function storedScheduleText(policy: Record<string, unknown> | null): string | null {
  const t = policy?.['scheduleText'];
  return typeof t === 'string' ? t : null;
}

function dueBy(
  v: SchedulableVolume,
  schedule: Schedule,
  previousDueAt: Date | null,
  now: Date,
  s: SchedulerSettings,
): Date {
  return nextDueAt({
    schedule,
    lastSuccessAt: v.lastSuccessAt,
    lastAttemptAt: v.lastAttemptAt,
    previousDueAt,
    now,
    timeZone: s.timeZone,
    retryAfterSeconds: s.retryAfterSeconds,
  });
}

/**
 * Decides for one volume at `now` by its schedule; `projectBytes` is what its project's
 * backups occupy (for the quota).
 */
export function decideVolume(
  v: SchedulableVolume,
  now: Date,
  s: SchedulerSettings,
  projectBytes = 0,
): VolumeDecision {
  const policy = parsePolicy(v.metadata, s.limits);
  if (policy.kind !== 'policy')
    return { policy, nextDueAt: null, skipReason: null, quotaError: null, enqueue: false };
  const quotaError = quotaProblem(s.quota, v.projectId, projectBytes);
  // A due time recorded for the same schedule anchors a never-run cron volume; a changed
  // schedule starts afresh.
  const sameSchedule = storedScheduleText(v.policy) === policy.policy.scheduleText;
  const due = dueBy(v, policy.policy.schedule, sameSchedule ? v.nextDueAt : null, now, s);
  const blocked = backupBlockedReason(v);
  const isDue = due.getTime() <= now.getTime();
  return {
    policy,
    nextDueAt: due,
    skipReason: blocked,
    quotaError,
    enqueue: isDue && blocked === null && quotaError === null && !v.hasOpenBackupJob,
  };
}

/** An event that may trigger a backup. */
export interface BackupTrigger {
  trigger: TriggerEvent;
  /** The event's own time. */
  eventAt: Date;
  /** Older events do not trigger (a replay of the queue after an outage). */
  maxAgeSeconds: number;
}

export type EventDecision = { enqueue: true } | { enqueue: false; reason: string };

/** Decides whether event `t` gives volume `v` a backup job at `now`. */
export function decideEventBackup(
  v: SchedulableVolume,
  t: BackupTrigger,
  now: Date,
  s: SchedulerSettings,
): EventDecision {
  const no = (reason: string): EventDecision => ({ enqueue: false, reason });
  const policy = parsePolicy(v.metadata, s.limits);
  if (policy.kind !== 'policy') return no(`the volume has no backup policy (${policy.kind})`);
  if (!policy.policy.onEvents.includes(t.trigger))
    return no(`backup:on does not list ${t.trigger}`);
  if ((now.getTime() - t.eventAt.getTime()) / 1000 > t.maxAgeSeconds) {
    return no(`the event is older than ${t.maxAgeSeconds} s`);
  }
  const blocked = backupBlockedReason(v);
  if (blocked !== null) return no(blocked);
  // The verdict the scheduler's last pass recorded (it reads every project's bytes once);
  // enqueueBackups checks again under the project's lock.
  if (v.quotaError !== null) return no(v.quotaError);
  if (v.hasOpenBackupJob) return no('a backup job is already open');
  const minimum: Schedule = { kind: 'interval', everySeconds: s.limits.minIntervalSeconds };
  const due = dueBy(v, minimum, null, now, s);
  if (due.getTime() > now.getTime()) {
    return no(
      `the minimum interval of ${s.limits.minIntervalSeconds} s between backups allows the next at ${due.toISOString()}`,
    );
  }
  return { enqueue: true };
}
