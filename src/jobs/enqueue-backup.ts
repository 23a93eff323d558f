/**
 * Puts a backup job on the queue for a volume that a decision (scheduler-decision.ts) let
 * through, routed to the volume's backend host. Shared by the scheduler's pass and the
 * notification path, so an event-triggered job is made exactly like a scheduled one.
 */
import { lockProjectQuota, projectBytesWithOpenJobs } from '../db/project-usage-lock.js';
import type { Queryable } from '../db/queryable.js';
import { getSchedulableVolume, type SchedulableVolume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import { NO_PROJECT_QUOTA, quotaOf, quotaProblem } from '../policy/project-quota.js';
import type { Job } from './job.js';
import { enqueueJob } from './queue.js';
import {
  decideEventBackup,
  type BackupTrigger,
  type SchedulerSettings,
} from './scheduler-decision.js';

/** Enqueues; null when the volume already has an open backup job (the enqueue key). */
export function enqueueBackup(
  q: Queryable,
  v: Pick<SchedulableVolume, 'id' | 'backendHost' | 'lvName'>,
  reason: string,
): Promise<Job | null> {
  if (v.backendHost === null) {
    // Both decisions refuse a volume without a host (backupBlockedReason) before this.
    throw new AppError('INTERNAL', `volume ${v.id} has no backend host to route a backup to`);
  }
  return enqueueJob(q, {
    kind: 'backup',
    volumeId: v.id,
    backendHost: v.backendHost,
    lvName: v.lvName,
    reason,
  });
}

export type EventBackupResult = { job: Job } | { job: null; reason: string };

/**
 * Decides on and, when allowed, enqueues the backup an event triggers (reason
 * `event:<event type>`), with the volume as the caller's transaction sees it.
 *
 * When the project has a quota, the check and the enqueue are one step: under the
 * project's advisory lock (held to the end of the caller's transaction, which both callers
 * open), the project's stored bytes plus the expected bytes of its open backup jobs must
 * be under the quota. The scheduler's recorded verdict (`quota_error`) alone was read
 * before any lock: two events for two volumes of a project just under its quota, handled
 * at once, both passed and both ran.
 */
export async function enqueueEventBackup(
  q: Queryable,
  volumeId: string,
  eventType: string,
  t: BackupTrigger,
  now: Date,
  s: SchedulerSettings,
): Promise<EventBackupResult> {
  const v = await getSchedulableVolume(q, volumeId);
  if (v === null) return { job: null, reason: 'the volume is not in the inventory' };
  const d = decideEventBackup(v, t, now, s);
  if (!d.enqueue) return { job: null, reason: d.reason };
  const quota = s.quota ?? NO_PROJECT_QUOTA;
  if (quotaOf(quota, v.projectId) !== null) {
    await lockProjectQuota(q, v.projectId);
    const bytes = await projectBytesWithOpenJobs(q, v.projectId);
    const over = quotaProblem(quota, v.projectId, bytes.stored + bytes.expected);
    if (over !== null) {
      return {
        job: null,
        reason:
          bytes.expected === 0
            ? over
            : `${over}; counted with ${bytes.expected} bytes its open backup jobs are expected to store`,
      };
    }
  }
  const job = await enqueueBackup(q, v, `event:${eventType}`);
  return job === null ? { job: null, reason: 'a backup job is already open' } : { job };
}
