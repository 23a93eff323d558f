/**
 * The append-only `events` log: every state change of jobs and backups, one row each.
 * The table refuses UPDATE, DELETE and TRUNCATE (trigger in 0001_catalog.sql).
 */
import type { Queryable } from './queryable.js';

export interface EventInput {
  /** Dotted name: job.claimed, job.failed, backup.step, backup.succeeded, prune.removed... */
  kind: string;
  volumeId?: string | null;
  jobId?: number | null;
  backupId?: number | null;
  node?: string | null;
  message?: string | null;
  data?: Record<string, unknown>;
}

export interface EventRecord {
  id: number;
  at: Date;
  kind: string;
  volumeId: string | null;
  jobId: number | null;
  backupId: number | null;
  node: string | null;
  message: string | null;
  data: Record<string, unknown>;
}

/** Appends one event. */
export async function appendEvent(q: Queryable, e: EventInput): Promise<void> {
  await q.query(
    `INSERT INTO events (kind, volume_id, job_id, backup_id, node, message, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      e.kind,
      e.volumeId ?? null,
      e.jobId ?? null,
      e.backupId ?? null,
      e.node ?? null,
      e.message ?? null,
      JSON.stringify(e.data ?? {}),
    ],
  );
}

interface EventRow {
  id: string;
  at: Date;
  kind: string;
  volume_id: string | null;
  job_id: string | null;
  backup_id: string | null;
  node: string | null;
  message: string | null;
  data: Record<string, unknown>;
}

/** Events of one job after `afterId`, oldest first (for `enqueue --wait`). */
export async function listJobEvents(
  q: Queryable,
  jobId: number,
  afterId = 0,
): Promise<EventRecord[]> {
  const res = await q.query<EventRow>(
    'SELECT * FROM events WHERE job_id = $1 AND id > $2 ORDER BY id',
    [jobId, afterId],
  );
  return res.rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    kind: r.kind,
    volumeId: r.volume_id,
    jobId: r.job_id === null ? null : Number(r.job_id),
    backupId: r.backup_id === null ? null : Number(r.backup_id),
    node: r.node,
    message: r.message,
    data: r.data,
  }));
}
