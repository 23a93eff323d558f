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
            skip_reason, open_jobs
       FROM backup_status WHERE $1::text IS NULL OR project_id = $1`,
    [filter.projectId ?? null],
  );
  return res.rows.map((r) => ({
    ...r,
    backups_kept: Number(r.backups_kept),
    bytes_kept: Number(r.bytes_kept),
  }));
}
