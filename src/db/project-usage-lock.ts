/**
 * The per-project byte quota checked atomically with an enqueue (issue 10): a transaction
 * that takes the project's advisory lock and then counts both what the project stores and
 * what its open backup jobs are about to store sees every backup another transaction let
 * through before it, so two event-triggered backups of one project's volumes cannot both
 * pass a check that only one fits.
 */
import type { Queryable } from './queryable.js';

/**
 * Takes the project's quota lock until the caller's transaction ends (called outside a
 * transaction it ends with the statement, and serialises nothing). Two-key form, the first
 * key naming this use, so it cannot collide with another advisory lock of the database.
 */
export async function lockProjectQuota(q: Queryable, projectId: string): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('clb:project-quota'), hashtext($1))`, [
    projectId,
  ]);
}

/**
 * What the project stores (the `project_usage` view: successful, unpruned backups) plus what its
 * open (queued or running) backup jobs are expected to add: each volume's last successful
 * backup's stored bytes, or its size when it has none yet (a first full backup stores at
 * most that, compressed).
 */
export async function projectBytesWithOpenJobs(
  q: Queryable,
  projectId: string,
): Promise<{ stored: number; expected: number }> {
  const res = await q.query<{ stored: string; expected: string }>(
    `SELECT (SELECT coalesce(sum(bytes_stored), 0) FROM project_usage WHERE project_id = $1)
              AS stored,
            (SELECT coalesce(sum(coalesce(
                      (SELECT b.bytes_written FROM backups b
                        WHERE b.volume_id = v.id AND b.status = 'succeeded'
                        ORDER BY b.finished_at DESC NULLS LAST, b.id DESC LIMIT 1),
                      v.size_gb::bigint * 1073741824)), 0)
               FROM jobs j JOIN volumes v ON v.id = j.volume_id
              WHERE v.project_id = $1 AND j.kind = 'backup'
                AND j.state IN ('queued', 'running')) AS expected`,
    [projectId],
  );
  const row = res.rows[0];
  return { stored: Number(row?.stored ?? 0), expected: Number(row?.expected ?? 0) };
}
