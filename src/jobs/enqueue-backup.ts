/**
 * Puts a backup job on the queue for a volume that a decision (scheduler-decision.ts) let
 * through, routed to the volume's backend host. Shared by the scheduler's pass and the
 * notification path, so an event-triggered job is made exactly like a scheduled one.
 */
import type { Queryable } from '../db/queryable.js';
import { getSchedulableVolume, type SchedulableVolume } from '../db/volumes.js';
import { AppError } from '../errors.js';
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
  const job = await enqueueBackup(q, v, `event:${eventType}`);
  return job === null ? { job: null, reason: 'a backup job is already open' } : { job };
}
