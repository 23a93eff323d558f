/**
 * The scheduler: one pass over the tagged volumes records each one's policy (or policy
 * error), next due time and skip reason, and enqueues a backup job, routed to the volume's
 * backend host, for every volume that is due and in a state where a backup can run. The
 * queue's enqueue key keeps one open backup job per volume even if two passes race.
 * The controller runs passes periodically, only on the leader.
 */
import type pg from 'pg';
import { silentLogger, type Logger } from '../log.js';
import {
  listSchedulableVolumes,
  projectStoredBytes,
  recordPolicies,
  recordSchedules,
  type SchedulableVolume,
} from '../db/volumes.js';
import { anyQuota } from '../policy/project-quota.js';
import { enqueueBackupsFromPool } from './enqueue-backup.js';
import { decideVolume, type SchedulerSettings } from './scheduler-decision.js';

export interface SchedulerPassResult {
  volumes: number;
  policies: number;
  policyErrors: number;
  /** Volumes whose project is at or over its byte quota (no backup enqueued for them). */
  overQuota: number;
  /**
   * Due volumes held back at the enqueue: their project's stored bytes plus the expected
   * bytes of its open backup jobs (this pass's included) reach its quota. Due again next pass.
   */
  quotaHeld: number;
  enqueued: number;
  skipped: number;
  alreadyOpen: number;
}

/** Volumes whose decisions one pair of statements writes. */
const WRITE_CHUNK = 500;

/** Runs one pass at `now`. */
export async function runSchedulerPass(
  q: pg.Pool,
  settings: SchedulerSettings,
  options: { now?: Date; logger?: Logger } = {},
): Promise<SchedulerPassResult> {
  const now = options.now ?? new Date();
  const log = (options.logger ?? silentLogger).child({ component: 'scheduler' });
  const volumes = await listSchedulableVolumes(q);
  const stored = anyQuota(settings.quota) ? await projectStoredBytes(q) : new Map<string, number>();
  const result: SchedulerPassResult = {
    volumes: volumes.length,
    policies: 0,
    policyErrors: 0,
    overQuota: 0,
    quotaHeld: 0,
    enqueued: 0,
    skipped: 0,
    alreadyOpen: 0,
  };
  // Decisions are written a chunk at a time (two statements per chunk rather than two per
  // volume: a first pass over 10,000 tagged volumes otherwise waits on 20,000 commits); the
  // due volumes are enqueued after, a project at a time.
  const dueByProject = new Map<string, SchedulableVolume[]>();
  for (let start = 0; start < volumes.length; start += WRITE_CHUNK) {
    const chunk = volumes.slice(start, start + WRITE_CHUNK);
    const decided = chunk.map((v) => ({
      v,
      d: decideVolume(v, now, settings, stored.get(v.projectId) ?? 0),
    }));
    await recordPolicies(
      q,
      decided.map(({ v, d }) => ({ volumeId: v.id, result: d.policy })),
      now,
    );
    const withPolicy = decided.filter(({ d }) => d.policy.kind === 'policy');
    await recordSchedules(
      q,
      withPolicy.map(({ v, d }) => ({
        volumeId: v.id,
        nextDueAt: d.nextDueAt,
        skipReason: d.skipReason,
        quotaError: d.quotaError,
      })),
    );
    result.policyErrors += decided.filter(({ d }) => d.policy.kind === 'error').length;
    result.policies += withPolicy.length;
    for (const { v, d } of withPolicy) {
      if (d.quotaError !== null) {
        result.overQuota += 1;
        if (v.quotaError === null) log.warn({ volumeId: v.id, reason: d.quotaError }, 'over quota');
      }
      const due = d.nextDueAt !== null && d.nextDueAt.getTime() <= now.getTime();
      if (due && d.skipReason !== null) result.skipped += 1;
      if (due && v.hasOpenBackupJob) result.alreadyOpen += 1;
      if (!d.enqueue) continue;
      const list = dueByProject.get(v.projectId) ?? [];
      list.push(v);
      dueByProject.set(v.projectId, list);
    }
  }
  for (const [projectId, due] of dueByProject) {
    // With a quota: one transaction, one lock and one count per project and pass.
    const outcomes = await enqueueBackupsFromPool(
      q,
      projectId,
      due.map((v) => ({ volume: v, reason: 'schedule' })),
      settings.quota,
    );
    outcomes.forEach((o, i) => {
      const v = due[i] as SchedulableVolume;
      if (o.job !== null) {
        result.enqueued += 1;
        log.info(
          { volumeId: v.id, jobId: o.job.id, backendHost: o.job.backendHost },
          'backup enqueued',
        );
      } else if (o.refused === 'open-job') {
        result.alreadyOpen += 1;
      } else {
        result.quotaHeld += 1;
        log.info({ volumeId: v.id, reason: o.reason }, 'due backup held back by the quota');
      }
    });
  }
  log.debug({ ...result }, 'scheduler pass done');
  return result;
}
