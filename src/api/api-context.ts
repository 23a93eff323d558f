/**
 * What the routes share: the database, the role names, and the lookups that apply tenant
 * isolation (an object of another project is reported exactly as a missing one).
 */
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { getBackupDetail, type BackupDetail } from '../db/backups.js';
import { getVolume, type Volume } from '../db/volumes.js';
import { AppError } from '../errors.js';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import type { Logger } from '../log.js';
import type { Job } from '../jobs/job.js';
import type { ProjectQuota } from '../policy/project-quota.js';
import { getJob } from '../jobs/queue.js';
import { canSee, isAdmin, type Caller, type RoleNames } from './caller.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the /v1 auth hook; null elsewhere. */
    caller: Caller | null;
  }
}

export interface ApiContext {
  /** A pool: back up now opens a transaction for the quota's lock. */
  db: pg.Pool;
  roles: RoleNames;
  /** Grace after a due time before a volume counts as overdue (s). */
  overdueGraceSeconds: number;
  /**
   * Back up now by a non-admin caller waits this long after the volume's last backup
   * started (the policy's minimum interval: a tenant cannot loop full backups).
   */
  manualMinIntervalSeconds: number;
  /** Back up now by a non-admin caller fits the project's byte quota. */
  quota: ProjectQuota;
  /** Cinder, to check a restore target (null: no OpenStack, restores refused). */
  cinderLookup: VolumeLookup | null;
  /** Cinder's os-reset_status, to hold a restore target in maintenance (null: none). */
  cinderResetStatus: ((volumeId: string, status: string) => Promise<void>) | null;
  /** `[restore] set_maintenance`. */
  restoreSetsMaintenance: boolean;
  logger: Logger;
}

/** The authenticated caller of a /v1 request (the hook guarantees one). */
export function callerOf(req: FastifyRequest): Caller {
  if (req.caller === null) throw new AppError('UNAUTHENTICATED', 'no valid X-Auth-Token');
  return req.caller;
}

export function adminOf(ctx: ApiContext, req: FastifyRequest): boolean {
  return isAdmin(callerOf(req), ctx.roles);
}

const volumeNotFound = (id: string) =>
  new AppError('VOLUME_NOT_FOUND', `no volume ${id} is known to the backup service`);
const backupNotFound = (id: number) => new AppError('BACKUP_NOT_FOUND', `no backup ${id}`);
const jobNotFound = (id: number) => new AppError('JOB_NOT_FOUND', `no job ${id}`);

/** A volume of the inventory the caller may see (deleted ones too), or VOLUME_NOT_FOUND. */
export async function visibleVolume(
  ctx: ApiContext,
  req: FastifyRequest,
  id: string,
): Promise<Volume> {
  const v = await getVolume(ctx.db, id);
  if (v === null || !canSee(callerOf(req), ctx.roles, v.projectId)) throw volumeNotFound(id);
  return v;
}

/** A backup whose volume the caller may see, with that volume, or BACKUP_NOT_FOUND. */
export async function visibleBackup(
  ctx: ApiContext,
  req: FastifyRequest,
  id: number,
): Promise<{ backup: BackupDetail; volume: Volume }> {
  const backup = await getBackupDetail(ctx.db, id);
  const volume = backup === null ? null : await getVolume(ctx.db, backup.volumeId);
  if (backup === null || volume === null || !canSee(callerOf(req), ctx.roles, volume.projectId)) {
    throw backupNotFound(id);
  }
  return { backup, volume };
}

/** A job whose volume the caller may see, or JOB_NOT_FOUND. */
export async function visibleJob(ctx: ApiContext, req: FastifyRequest, id: number): Promise<Job> {
  const job = await getJob(ctx.db, id);
  const volume = job === null ? null : await getVolume(ctx.db, job.volumeId);
  if (job === null || volume === null || !canSee(callerOf(req), ctx.roles, volume.projectId)) {
    throw jobNotFound(id);
  }
  return job;
}

export { volumeNotFound };
