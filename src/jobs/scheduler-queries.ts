/**
 * The statements of the scheduler (and of the notification consumer, which records a
 * volume's policy when an event changes its metadata). One exported function per statement,
 * a Queryable first, values only as parameters.
 */
import type { Queryable } from '../db/queryable.js';
import type { PolicyResult } from '../policy/policy.js';

/** Records what the metadata makes: the policy (or null) and the policy error (or null). */
export async function recordPolicy(
  q: Queryable,
  volumeId: string,
  result: PolicyResult,
): Promise<void> {
  const policy = result.kind === 'policy' ? JSON.stringify(result.policy) : null;
  const error = result.kind === 'error' ? result.message : null;
  await q.query(
    `UPDATE volumes SET policy = $2::jsonb, policy_error = $3,
            next_due_at = CASE WHEN $2::jsonb IS NULL THEN NULL ELSE next_due_at END,
            skip_reason = CASE WHEN $2::jsonb IS NULL THEN NULL ELSE skip_reason END
      WHERE id = $1
        AND (policy IS DISTINCT FROM $2::jsonb OR policy_error IS DISTINCT FROM $3)`,
    [volumeId, policy, error],
  );
}

/** A volume as the scheduler sees it, with the history it needs. */
export interface SchedulableVolume {
  id: string;
  status: string;
  backendHost: string | null;
  lvName: string;
  metadata: Record<string, unknown>;
  policy: Record<string, unknown> | null;
  nextDueAt: Date | null;
  skipReason: string | null;
  deletedAt: Date | null;
  lastSuccessAt: Date | null;
  lastAttemptAt: Date | null;
  hasOpenBackupJob: boolean;
}

interface SchedulableRow {
  id: string;
  status: string;
  backend_host: string | null;
  lv_name: string;
  metadata: Record<string, unknown>;
  policy: Record<string, unknown> | null;
  next_due_at: Date | null;
  skip_reason: string | null;
  deleted_at: Date | null;
  last_success_at: Date | null;
  last_attempt_at: Date | null;
  has_open_job: boolean;
}

/**
 * Every volume that carries backup metadata or a recorded policy, with its last successful
 * backup (end), its last attempt (start) and whether a backup job is open.
 */
export async function listSchedulableVolumes(q: Queryable): Promise<SchedulableVolume[]> {
  const res = await q.query<SchedulableRow>(
    `SELECT v.id, v.status, v.backend_host, v.lv_name, v.metadata, v.policy, v.next_due_at,
            v.skip_reason, v.deleted_at,
            (SELECT max(b.finished_at) FROM backups b
              WHERE b.volume_id = v.id AND b.status = 'succeeded') AS last_success_at,
            -- A job can fail before it records a backup row (agent lost, LV missing).
            GREATEST(
              (SELECT max(b.started_at) FROM backups b WHERE b.volume_id = v.id),
              (SELECT max(j.finished_at) FROM jobs j
                WHERE j.volume_id = v.id AND j.kind = 'backup' AND j.state = 'failed')
            ) AS last_attempt_at,
            EXISTS (SELECT 1 FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'backup'
                      AND j.state IN ('queued', 'running')) AS has_open_job
       FROM volumes v
      WHERE v.deleted_at IS NULL
        AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL
             OR v.metadata ? 'backup'
             OR EXISTS (SELECT 1 FROM jsonb_object_keys(v.metadata) k WHERE k LIKE 'backup:%'))
      ORDER BY v.id`,
  );
  return res.rows.map((r) => ({
    id: r.id,
    status: r.status,
    backendHost: r.backend_host,
    lvName: r.lv_name,
    metadata: r.metadata,
    policy: r.policy,
    nextDueAt: r.next_due_at,
    skipReason: r.skip_reason,
    deletedAt: r.deleted_at,
    lastSuccessAt: r.last_success_at,
    lastAttemptAt: r.last_attempt_at,
    hasOpenBackupJob: r.has_open_job,
  }));
}

/** Records the scheduler's decision for one volume. */
export async function recordSchedule(
  q: Queryable,
  volumeId: string,
  nextDueAt: Date | null,
  skipReason: string | null,
): Promise<void> {
  await q.query(
    `UPDATE volumes SET next_due_at = $2, skip_reason = $3
      WHERE id = $1 AND (next_due_at IS DISTINCT FROM $2 OR skip_reason IS DISTINCT FROM $3)`,
    [volumeId, nextDueAt, skipReason],
  );
}
