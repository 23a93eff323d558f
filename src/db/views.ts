/**
 * Reads of the views for people (0003_views.sql), for `status` and the HTTP API.
 */
import type { Queryable } from './queryable.js';

/** One row of `backup_status`, column for column. */
export interface BackupStatusRow {
  volume_id: string;
  volume_name: string | null;
  project_id: string;
  host: string | null;
  policy: string | null;
  last_success_at: Date | null;
  last_attempt_at: Date | null;
  last_status: string | null;
  last_error: string | null;
  next_due_at: Date | null;
  backups_kept: number;
  bytes_kept: number;
  policy_error: string | null;
  skip_reason: string | null;
  open_jobs: string | null;
  /** Why the volume's project gets no new backups (its quota), or null (0016). */
  quota_error: string | null;
}

/** `backup_status`, optionally for one project. */
export async function listBackupStatus(
  q: Queryable,
  filter: { projectId?: string } = {},
): Promise<BackupStatusRow[]> {
  const res = await q.query<
    Omit<BackupStatusRow, 'backups_kept' | 'bytes_kept'> & {
      backups_kept: string;
      bytes_kept: string;
    }
  >(
    `SELECT volume_id, volume_name, project_id, host, policy, last_success_at, last_attempt_at,
            last_status, last_error, next_due_at, backups_kept, bytes_kept, policy_error,
            skip_reason, open_jobs, quota_error
       FROM backup_status WHERE $1::text IS NULL OR project_id = $1`,
    [filter.projectId ?? null],
  );
  return res.rows.map((r) => ({
    ...r,
    backups_kept: Number(r.backups_kept),
    bytes_kept: Number(r.bytes_kept),
  }));
}

/** A row of `backup_status` with the volume's stored policy (for the mail report). */
export interface BackupStatusWithPolicy extends BackupStatusRow {
  policy_json: Record<string, unknown> | null;
}

/** `backup_status` with each volume's stored policy, to judge whether it is too old. */
export async function listBackupStatusWithPolicy(q: Queryable): Promise<BackupStatusWithPolicy[]> {
  const res = await q.query<
    Omit<BackupStatusWithPolicy, 'backups_kept' | 'bytes_kept'> & {
      backups_kept: string;
      bytes_kept: string;
    }
  >(
    `SELECT s.volume_id, s.volume_name, s.project_id, s.host, s.policy, s.last_success_at,
            s.last_attempt_at, s.last_status, s.last_error, s.next_due_at, s.backups_kept,
            s.bytes_kept, s.policy_error, s.skip_reason, s.open_jobs, s.quota_error,
            v.policy AS policy_json
       FROM backup_status s JOIN volumes v ON v.id = s.volume_id`,
  );
  return res.rows.map((r) => ({
    ...r,
    backups_kept: Number(r.backups_kept),
    bytes_kept: Number(r.bytes_kept),
  }));
}

/** A row of `backup_failures`. */
export interface BackupFailureRow {
  failedAt: Date | null;
  kind: string;
  volumeId: string;
  volumeName: string | null;
  projectId: string;
  jobId: number | null;
  backupRowId: number | null;
  node: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  reason: string;
}

/** `backup_failures` with failed_at in (after, until], oldest first. */
export async function listFailuresBetween(
  q: Queryable,
  after: Date,
  until: Date,
): Promise<BackupFailureRow[]> {
  const res = await q.query<{
    failed_at: Date | null;
    kind: string;
    volume_id: string;
    volume_name: string | null;
    project_id: string;
    job_id: string | null;
    backup_row_id: string | null;
    node: string | null;
    error_code: string | null;
    error_message: string | null;
    reason: string;
  }>(
    `SELECT failed_at, kind, volume_id, volume_name, project_id, job_id, backup_row_id, node,
            error_code, error_message, reason
       FROM backup_failures WHERE failed_at > $1 AND failed_at <= $2
      ORDER BY failed_at, job_id`,
    [after, until],
  );
  return res.rows.map((r) => ({
    failedAt: r.failed_at,
    kind: r.kind,
    volumeId: r.volume_id,
    volumeName: r.volume_name,
    projectId: r.project_id,
    jobId: r.job_id === null ? null : Number(r.job_id),
    backupRowId: r.backup_row_id === null ? null : Number(r.backup_row_id),
    node: r.node,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    reason: r.reason,
  }));
}
