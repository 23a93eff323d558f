/**
 * The scheduler: one pass over the tagged volumes records each one's policy (or policy
 * error), next due time and skip reason, and enqueues a backup job, routed to the volume's
 * backend host, for every volume that is due and in a state where a backup can run. The
 * queue's enqueue key keeps one open backup job per volume even if two passes race.
 * The controller runs passes periodically, only on the leader.
 */
import type { Queryable } from '../db/queryable.js';
import { silentLogger, type Logger } from '../log.js';
import {
  listSchedulableVolumes,
  projectStoredBytes,
  recordPolicy,
  recordSchedule,
} from '../db/volumes.js';
import { enqueueBackup } from './enqueue-backup.js';
import { decideVolume, type SchedulerSettings } from './scheduler-decision.js';

export interface SchedulerPassResult {
  volumes: number;
  policies: number;
  policyErrors: number;
  /** Volumes whose project is at or over its byte quota (no backup enqueued for them). */
  overQuota: number;
  enqueued: number;
  skipped: number;
  alreadyOpen: number;
}

/** Runs one pass at `now`. */
export async function runSchedulerPass(
  q: Queryable,
  settings: SchedulerSettings,
  options: { now?: Date; logger?: Logger } = {},
): Promise<SchedulerPassResult> {
  const now = options.now ?? new Date();
  const log = (options.logger ?? silentLogger).child({ component: 'scheduler' });
  const volumes = await listSchedulableVolumes(q);
  const stored =
    settings.quota === undefined ? new Map<string, number>() : await projectStoredBytes(q);
  const result: SchedulerPassResult = {
    volumes: volumes.length,
    policies: 0,
    policyErrors: 0,
    overQuota: 0,
    enqueued: 0,
    skipped: 0,
    alreadyOpen: 0,
  };
  for (const v of volumes) {
    const d = decideVolume(v, now, settings, stored.get(v.projectId) ?? 0);
    await recordPolicy(q, v.id, d.policy, now);
    if (d.policy.kind === 'error') result.policyErrors += 1;
    if (d.policy.kind !== 'policy') continue;
    result.policies += 1;
    await recordSchedule(q, v.id, d.nextDueAt, d.skipReason, d.quotaError);
    if (d.quotaError !== null) {
      result.overQuota += 1;
      if (v.quotaError === null) log.warn({ volumeId: v.id, reason: d.quotaError }, 'over quota');
    }
    const due = d.nextDueAt !== null && d.nextDueAt.getTime() <= now.getTime();
    if (due && d.skipReason !== null) result.skipped += 1;
    if (due && v.hasOpenBackupJob) result.alreadyOpen += 1;
    if (!d.enqueue) continue;
    const job = await enqueueBackup(q, v, 'schedule');
    if (job === null) {
      result.alreadyOpen += 1;
    } else {
      result.enqueued += 1;
      log.info({ volumeId: v.id, jobId: job.id, backendHost: job.backendHost }, 'backup enqueued');
    }
  }
  log.debug({ ...result }, 'scheduler pass done');
  return result;
}
