/**
 * The per-project byte quota checked atomically with an enqueue (issue 10): a transaction
 * that takes the project's advisory lock and then counts both what the project stores and
 * what its open backup jobs are about to store sees every backup another transaction let
 * through before it, so two enqueuers (two events, a scheduler pass and an event, the API and
 * a pass) cannot both pass a check that only one fits. jobs/enqueue-backup.ts is the one
 * caller.
 */
import type { Queryable } from './queryable.js';

/**
 * Takes the project's quota lock until the caller's transaction ends (called outside a
 * transaction it ends with the statement, and serialises nothing). Two-key form, the first
 * key naming this use, so it cannot collide with another advisory lock of the database.
 *
 * A statement of its own: under READ COMMITTED each statement reads from a snapshot taken
 * when it starts, so a count made in the statement that waited for the lock would not see
 * what the previous holder committed while it waited.
 */
export async function lockProjectQuota(q: Queryable, projectId: string): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('clb:project-quota'), hashtext($1))`, [
    projectId,
  ]);
}

/**
 * Takes the quota locks of several projects in one order, that of the locks' keys (two
 * project ids may share a key; sorting the ids would then not order the locks). Two
 * transactions that each took their projects' locks in the order of their own work could
 * each hold one the other waits for, and Postgres would abort one of them (40P01).
 */
export async function lockProjectQuotas(
  q: Queryable,
  projectIds: readonly string[],
): Promise<void> {
  const ids = [...new Set(projectIds)];
  if (ids.length <= 1) {
    if (ids[0] !== undefined) await lockProjectQuota(q, ids[0]);
    return;
  }
  const keys = await q.query<{ k: number }>(
    `SELECT DISTINCT hashtext(p) AS k FROM unnest($1::text[]) AS p ORDER BY k`,
    [ids],
  );
  for (const { k } of keys.rows) {
    await q.query(`SELECT pg_advisory_xact_lock(hashtext('clb:project-quota'), $1::int)`, [k]);
  }
}

/**
 * What a backup of volume `v` is expected to store: its last successful backup's stored
 * bytes, or its size when it has none yet (a first full backup stores at most that,
 * compressed). One expression for the open jobs and the candidates alike.
 */
const EXPECTED_BYTES_OF_V = `coalesce(
  (SELECT b.bytes_written FROM backups b
    WHERE b.volume_id = v.id AND b.status = 'succeeded'
    ORDER BY b.finished_at DESC NULLS LAST, b.id DESC LIMIT 1),
  v.size_gb::bigint * 1073741824)`;

export interface ProjectBytes {
  /** Successful, unpruned backups (the `project_usage` view). */
  stored: number;
  /** The expected bytes of the project's open (queued or running) backup jobs. */
  expected: number;
  /** The expected bytes of a backup of each of `candidateIds` (absent: not in the inventory). */
  candidates: Map<string, number>;
}

/**
 * What the project stores plus what its open backup jobs are expected to add, and what a
 * backup of each candidate volume would be expected to add: one round trip.
 */
export async function projectBytesWithOpenJobs(
  q: Queryable,
  projectId: string,
  candidateIds: readonly string[] = [],
): Promise<ProjectBytes> {
  const res = await q.query<{
    stored: string;
    expected: string;
    candidates: Record<string, number | string>;
  }>(
    `SELECT (SELECT coalesce(sum(bytes_stored), 0) FROM project_usage WHERE project_id = $1)
              AS stored,
            (SELECT coalesce(sum(${EXPECTED_BYTES_OF_V}), 0)
               FROM jobs j JOIN volumes v ON v.id = j.volume_id
              WHERE v.project_id = $1 AND j.kind = 'backup'
                AND j.state IN ('queued', 'running')) AS expected,
            (SELECT coalesce(jsonb_object_agg(v.id::text, (${EXPECTED_BYTES_OF_V})::text), '{}')
               FROM volumes v WHERE v.id = ANY($2::uuid[])) AS candidates`,
    [projectId, candidateIds],
  );
  const row = res.rows[0];
  return {
    stored: Number(row?.stored ?? 0),
    expected: Number(row?.expected ?? 0),
    candidates: new Map(Object.entries(row?.candidates ?? {}).map(([k, x]) => [k, Number(x)])),
  };
}
