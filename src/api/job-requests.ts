/**
 * What the API's actions put on the queue: back up now, verify a backup, restore a backup
 * to another volume. Each relies on the queue's enqueue key (one open job of a kind per
 * volume, a unique index): a second request while a job is open gets that same job, and
 * two requests at the same moment make exactly one (the loser's INSERT finds the winner's
 * row). A request that would need a different open job is refused with JOB_CONFLICT.
 */
import { latestBackupStart } from '../db/backups.js';
import type { Queryable } from '../db/queryable.js';
import type pg from 'pg';
import type { Volume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import type { Job, JobKind } from '../jobs/job.js';
import { enqueueBackupsFromPool } from '../jobs/enqueue-backup.js';
import { enqueueRestore } from '../jobs/enqueue-restore.js';
import { NO_PROJECT_QUOTA, type ProjectQuota } from '../policy/project-quota.js';
import { enqueueJob, findOpenJob, type EnqueueRequest } from '../jobs/queue.js';
import type { CheckedTargetVolume, TargetStatusCinder } from '../jobs/restore-target-volume.js';
import type { Logger } from '../log.js';

export interface JobRequestResult {
  job: Job;
  /** False when an open job was returned instead of a new one. */
  created: boolean;
}

function routable(volume: Volume): string {
  if (volume.backendHost === null) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `volume ${volume.id} has no storage host yet (Cinder has not scheduled it)`,
      { details: { status: 409 } },
    );
  }
  return volume.backendHost;
}

/**
 * Enqueues, or returns the open job of that kind when `sameRequest` accepts it. The open
 * job may end between the refused INSERT and the look-up; then enqueue again (bounded).
 */
async function enqueueOrJoin(
  db: Queryable,
  volume: Volume,
  kind: JobKind,
  payload: Record<string, unknown>,
  sameRequest: (open: Job) => boolean,
  insert: (req: EnqueueRequest) => Promise<Job | null> = (req) => enqueueJob(db, req),
): Promise<JobRequestResult> {
  const backendHost = routable(volume);
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const created = await insert({
      kind,
      volumeId: volume.id,
      backendHost,
      lvName: volume.lvName,
      reason: 'manual',
      payload,
    });
    if (created !== null) return { job: created, created: true };
    const open = await findOpenJob(db, volume.id, kind, backendHost);
    if (open === null) continue;
    if (!sameRequest(open)) {
      throw new AppError(
        'JOB_CONFLICT',
        `volume ${volume.id} already has an open ${kind} job ${open.id} for another request; ` +
          'wait for it or cancel it',
      );
    }
    return { job: open, created: false };
  }
  throw new AppError('INTERNAL', `could not enqueue a ${kind} job for volume ${volume.id}`);
}

/** What bounds a back up now. */
export interface BackupRequestLimits {
  /**
   * How soon after the volume's last backup started a new one may be asked; null for an
   * admin, who is held neither to it nor to the quota.
   */
  minIntervalSeconds: number | null;
  /** The per-project byte quota (checked under the project's lock, as every enqueuer does). */
  quota: ProjectQuota;
}

/**
 * Back up now: the volume must be tagged with a valid policy, and (but for an admin) wait
 * the minimum interval and fit its project's quota; a request that would join an open job
 * is always answered with it.
 */
export async function requestBackup(
  db: pg.Pool,
  volume: Volume,
  requestedBy: string,
  limits: BackupRequestLimits,
  now: Date = new Date(),
): Promise<JobRequestResult> {
  const { minIntervalSeconds } = limits;
  if (volume.deletedAt !== null) {
    throw new AppError('VOLUME_NOT_FOUND', `volume ${volume.id} was deleted`);
  }
  if (volume.policyError !== null) {
    throw new AppError(
      'POLICY_INVALID',
      `the backup metadata of volume ${volume.id} makes no policy: ${volume.policyError}`,
    );
  }
  if (volume.policy === null) {
    throw new AppError(
      'POLICY_INVALID',
      `volume ${volume.id} is not tagged for backup (set the metadata backup=daily, for example)`,
    );
  }
  // Over its project's quota only an admin (the operator) may still ask for one.
  if (minIntervalSeconds !== null && volume.quotaError !== null) {
    throw new AppError('QUOTA_EXCEEDED', volume.quotaError);
  }
  if (minIntervalSeconds !== null) {
    const open = await findOpenJob(db, volume.id, 'backup');
    if (open !== null) return { job: open, created: false };
    const last = await latestBackupStart(db, volume.id);
    const waitSeconds =
      last === null ? 0 : minIntervalSeconds - (now.getTime() - last.getTime()) / 1000;
    if (waitSeconds > 0) {
      throw new AppError(
        'RATE_LIMITED',
        `volume ${volume.id} was last backed up at ${last?.toISOString() ?? ''}; ` +
          `the minimum interval of ${minIntervalSeconds} s allows another in ${Math.ceil(waitSeconds)} s`,
        { details: { retryAfterSeconds: waitSeconds } },
      );
    }
  }
  const quota = minIntervalSeconds === null ? NO_PROJECT_QUOTA : limits.quota;
  return enqueueOrJoin(
    db,
    volume,
    'backup',
    { requestedBy },
    () => true,
    async (req) => {
      const [r] = await enqueueBackupsFromPool(
        db,
        volume.projectId,
        [{ volume, reason: req.reason, payload: req.payload ?? {} }],
        quota,
      );
      if (r === undefined || r.job !== null) return r?.job ?? null;
      if (r.refused === 'quota') throw new AppError('QUOTA_EXCEEDED', r.reason);
      return null;
    },
  );
}

/** Verify one backup (its archives' checksums and readability). */
export function requestVerify(
  db: Queryable,
  volume: Volume,
  backupRowId: number,
  requestedBy: string,
): Promise<JobRequestResult> {
  return enqueueOrJoin(
    db,
    volume,
    'verify',
    { backupRowId, requestedBy },
    (open) => open.payload['backupRowId'] === backupRowId,
  );
}

function isSameRestore(open: Job, backupRowId: number, targetId: string): boolean {
  const t = open.payload['targetVolume'];
  return (
    open.payload['backupRowId'] === backupRowId &&
    typeof t === 'object' &&
    t !== null &&
    (t as { id?: unknown }).id === targetId
  );
}

/**
 * The open restore job of `source` for this same backup and target, if any: a repeated
 * request is answered with it before Cinder is asked (its target is in maintenance now,
 * which a fresh check would refuse).
 */
export async function openSameRestore(
  db: Queryable,
  source: Volume,
  backupRowId: number,
  targetId: string,
): Promise<Job | null> {
  const open = await findOpenJob(db, source.id, 'restore');
  return open !== null && isSameRestore(open, backupRowId, targetId) ? open : null;
}

/**
 * Restore one backup onto another volume of the same storage host: `target` is the record
 * the agent requires (agent/restore-job.ts), checked in Cinder by the route. With
 * `setMaintenance` the target is held in Cinder's `maintenance` status first
 * (jobs/enqueue-restore.ts); a request that joins the open job changes nothing in Cinder.
 */
export function requestRestore(
  db: Queryable,
  source: Volume,
  backupRowId: number,
  target: CheckedTargetVolume,
  requestedBy: string,
  hold: { cinder: TargetStatusCinder | null; setMaintenance: boolean; logger?: Logger },
): Promise<JobRequestResult> {
  return enqueueOrJoin(
    db,
    source,
    'restore',
    { backupRowId, targetVolume: target, requestedBy },
    (open) => isSameRestore(open, backupRowId, target.id),
    (req) =>
      enqueueRestore(
        db,
        hold.cinder,
        { job: req, target, setMaintenance: hold.setMaintenance },
        hold.logger,
      ),
  );
}
