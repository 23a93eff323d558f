/**
 * The one way a backup job gets on the queue: the scheduler's pass, event triggers (the
 * consumer and the hint confirmer) and the API's back up now all come through
 * enqueueBackups, so each is held to the project's byte quota the same way and atomically
 * with the others (issue 10). Jobs are routed to the volume's backend host.
 */
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import {
  lockProjectQuota,
  lockProjectQuotas,
  projectBytesWithOpenJobs,
} from '../db/project-usage-lock.js';
import type { Queryable } from '../db/queryable.js';
import { getSchedulableVolume, type SchedulableVolume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import { quotaOf, quotaProblem, type ProjectQuota } from '../policy/project-quota.js';
import type { Job } from './job.js';
import { enqueueJob } from './queue.js';
import {
  decideEventBackup,
  type BackupTrigger,
  type SchedulerSettings,
} from './scheduler-decision.js';

/** A backup to put on the queue. */
export interface BackupRequest {
  volume: Pick<SchedulableVolume, 'id' | 'projectId' | 'backendHost' | 'lvName'>;
  /** `schedule`, `event:<type>`, `manual`. */
  reason: string;
  payload?: Record<string, unknown>;
}

export type EnqueueOutcome =
  | { job: Job }
  /** `open-job`: the volume already has an open backup job (the enqueue key). */
  | { job: null; refused: 'open-job' | 'quota'; reason: string };

function insertBackupJob(q: Queryable, r: BackupRequest): Promise<Job | null> {
  const v = r.volume;
  if (v.backendHost === null) {
    // Every caller refuses a volume without a host (backupBlockedReason, routable) before this.
    throw new AppError('INTERNAL', `volume ${v.id} has no backend host to route a backup to`);
  }
  return enqueueJob(q, {
    kind: 'backup',
    volumeId: v.id,
    backendHost: v.backendHost,
    lvName: v.lvName,
    reason: r.reason,
    ...(r.payload === undefined ? {} : { payload: r.payload }),
  });
}

const OPEN: EnqueueOutcome = {
  job: null,
  refused: 'open-job',
  reason: 'a backup job is already open',
};

/**
 * Enqueues `requests`, all of volumes of `projectId`, in order; one outcome each.
 *
 * When the project has a quota, the check and the enqueues are one step: the project's
 * advisory lock is taken first (held to the end of the caller's transaction: the caller
 * must have opened one), then one statement counts the project's stored bytes, the
 * expected bytes of its open backup jobs and those of each request; a request goes through
 * only while stored plus expected is under the quota, and once through its own expected
 * bytes count against the requests after it. So every enqueuer, holding the lock in turn,
 * sees the jobs the others let through: a scheduler pass that read the bytes at its start,
 * or a back up now that checked the scheduler's recorded verdict, let jobs through beside
 * an event's (and a pass let every due volume of a project just under its quota through).
 * Without a quota no lock is taken and no transaction is needed.
 */
export async function enqueueBackups(
  q: Queryable,
  projectId: string,
  requests: readonly BackupRequest[],
  quota: ProjectQuota,
): Promise<EnqueueOutcome[]> {
  const out: EnqueueOutcome[] = [];
  for (const r of requests) {
    if (r.volume.projectId !== projectId) {
      throw new AppError('INTERNAL', `volume ${r.volume.id} is not of project ${projectId}`);
    }
  }
  if (quotaOf(quota, projectId) === null) {
    for (const r of requests) {
      const job = await insertBackupJob(q, r);
      out.push(job === null ? OPEN : { job });
    }
    return out;
  }
  await lockProjectQuota(q, projectId);
  const bytes = await projectBytesWithOpenJobs(
    q,
    projectId,
    requests.map((r) => r.volume.id),
  );
  let expected = bytes.expected;
  for (const r of requests) {
    const over = quotaProblem(quota, projectId, bytes.stored + expected);
    if (over !== null) {
      out.push({
        job: null,
        refused: 'quota',
        reason:
          expected === 0
            ? over
            : `${over}; counted with ${expected} bytes its open backup jobs are expected to store`,
      });
      continue;
    }
    const job = await insertBackupJob(q, r);
    if (job === null) {
      out.push(OPEN);
    } else {
      expected += bytes.candidates.get(r.volume.id) ?? 0;
      out.push({ job });
    }
  }
  return out;
}

/**
 * enqueueBackups from a pool: in a transaction of its own when the project has a quota (the
 * lock lives as long as the transaction), straight on the pool when it has none.
 */
export function enqueueBackupsFromPool(
  pool: pg.Pool,
  projectId: string,
  requests: readonly BackupRequest[],
  quota: ProjectQuota,
): Promise<EnqueueOutcome[]> {
  if (quotaOf(quota, projectId) === null) return enqueueBackups(pool, projectId, requests, quota);
  return withTransaction(pool, (client) => enqueueBackups(client, projectId, requests, quota));
}

/**
 * For a transaction that may enqueue backups of several projects (a hint confirmer's round, a
 * consumer's batch): takes the quota locks of those of `projectIds` with a quota, all of them
 * in one order (lockProjectQuotas), after the transaction's row locks and before its first
 * enqueue. Taken one by one as its enqueues come, two such transactions could each hold a
 * project the other needs (40P01). enqueueBackups taking one again later waits for nothing:
 * a session's advisory locks are re-entrant.
 */
export async function lockQuotasForBackups(
  q: Queryable,
  projectIds: Iterable<string>,
  quota: ProjectQuota,
): Promise<void> {
  await lockProjectQuotas(
    q,
    [...projectIds].filter((p) => quotaOf(quota, p) !== null),
  );
}

/** enqueueBackups for one request. */
export async function enqueueBackup(
  q: Queryable,
  request: BackupRequest,
  quota: ProjectQuota,
): Promise<EnqueueOutcome> {
  const [outcome] = await enqueueBackups(q, request.volume.projectId, [request], quota);
  if (outcome === undefined) throw new AppError('INTERNAL', 'an enqueue gave no outcome');
  return outcome;
}

export type EventBackupResult = { job: Job } | { job: null; reason: string };

/**
 * Decides on and, when allowed, enqueues the backup an event triggers (reason
 * `event:<event type>`), with the volume as the caller's transaction sees it (both callers
 * open one, which the quota's lock needs).
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
  const r = await enqueueBackup(q, { volume: v, reason: `event:${eventType}` }, s.quota);
  return r.job === null ? { job: null, reason: r.reason } : { job: r.job };
}
