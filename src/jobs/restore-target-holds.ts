/**
 * `restore_target_holds`: a restore's target volume held in Cinder's `maintenance` status
 * from enqueue to the end of its job. The row is written (with its held job) before Cinder
 * is asked, so a controller that dies in between leaves a record the next leader repairs.
 * One exported function per statement.
 */
import type { Queryable } from '../db/queryable.js';
import { HELD_RUN_AT, type EnqueueRequest } from './queue.js';
import { jobFromRow, type Job, type JobRow, type JobState } from './job.js';

export type HoldPhase = 'setting' | 'set' | 'released';

export interface RestoreTargetHold {
  id: number;
  /** The target volume (a Cinder volume id). */
  volumeId: string;
  jobId: number;
  previousStatus: string;
  phase: HoldPhase;
  createdAt: Date;
  setAt: Date | null;
  releasedAt: Date | null;
  /** The status put back; null when none was changed. */
  releasedTo: string | null;
  releaseNote: string | null;
  attempts: number;
  lastError: string | null;
}

/** A hold due for release, with the state of its job (null: the job is gone). */
export interface HoldToRelease extends RestoreTargetHold {
  jobState: JobState | null;
  /** The job is still queued and not claimable: its enqueuer never finished. */
  jobHeld: boolean;
}

interface HoldRow {
  id: string;
  volume_id: string;
  job_id: string;
  previous_status: string;
  phase: HoldPhase;
  created_at: Date;
  set_at: Date | null;
  released_at: Date | null;
  released_to: string | null;
  release_note: string | null;
  attempts: number;
  last_error: string | null;
}

function holdFromRow(r: HoldRow): RestoreTargetHold {
  return {
    id: Number(r.id),
    volumeId: r.volume_id,
    jobId: Number(r.job_id),
    previousStatus: r.previous_status,
    phase: r.phase,
    createdAt: r.created_at,
    setAt: r.set_at,
    releasedAt: r.released_at,
    releasedTo: r.released_to,
    releaseNote: r.release_note,
    attempts: r.attempts,
    lastError: r.last_error,
  };
}

/** The unique index that allows one open hold per target volume. */
export const OPEN_HOLD_INDEX = 'restore_target_holds_open';

/**
 * Puts a restore job on the queue held back (not claimable: run_at = HELD_RUN_AT) together
 * with the hold of its target, in one statement. Null when the volume already has an open
 * restore job (the queue's enqueue key); a unique violation on OPEN_HOLD_INDEX (23505) when
 * another restore holds the target.
 */
export async function enqueueHeldRestore(
  q: Queryable,
  req: Omit<EnqueueRequest, 'kind' | 'runAt'>,
  target: { volumeId: string; previousStatus: string },
): Promise<{ job: Job; hold: RestoreTargetHold } | null> {
  const res = await q.query<JobRow & { hold: HoldRow }>(
    `WITH j AS (
       INSERT INTO jobs (kind, volume_id, backend_host, lv_name, reason, payload, run_at, max_attempts)
       VALUES ('restore', $1, $2, $3, $4, $5, $6, coalesce($7, 5))
       -- The enqueue key of every kind but prune (0018).
       ON CONFLICT (volume_id, kind) WHERE state IN ('queued', 'running') AND kind <> 'prune'
         DO NOTHING
       RETURNING *
     ), h AS (
       INSERT INTO restore_target_holds (volume_id, job_id, previous_status)
       SELECT $8, j.id, $9 FROM j
       RETURNING *
     )
     SELECT j.*, to_jsonb(h) AS hold FROM j JOIN h ON h.job_id = j.id`,
    [
      req.volumeId,
      req.backendHost,
      req.lvName,
      req.reason,
      JSON.stringify(req.payload ?? {}),
      HELD_RUN_AT,
      req.maxAttempts ?? null,
      target.volumeId,
      target.previousStatus,
    ],
  );
  const row = res.rows[0];
  if (row === undefined) return null;
  const { hold, ...job } = row;
  return {
    job: jobFromRow(job),
    hold: holdFromRow({
      ...hold,
      created_at: new Date(hold.created_at),
      set_at: null,
      released_at: null,
    }),
  };
}

/**
 * Cinder shows the target in `maintenance`: the hold is set and its job becomes claimable,
 * with `patch` merged into its payload, in one statement. Null when the job is no longer
 * held (cancelled meanwhile) or the hold was released (a leader gave up waiting).
 */
export async function markHoldSet(
  q: Queryable,
  holdId: number,
  patch: Record<string, unknown>,
): Promise<Job | null> {
  const res = await q.query<JobRow>(
    `WITH h AS (
       SELECT id, job_id FROM restore_target_holds
        WHERE id = $1 AND phase = 'setting' AND released_at IS NULL
        FOR UPDATE
     ), j AS (
       UPDATE jobs SET run_at = now(), payload = payload || $2::jsonb, updated_at = now()
         FROM h
        WHERE jobs.id = h.job_id AND jobs.state = 'queued' AND jobs.run_at = $3
       RETURNING jobs.*
     ), s AS (
       UPDATE restore_target_holds SET phase = 'set', set_at = now()
        WHERE id = (SELECT h.id FROM h JOIN j ON j.id = h.job_id)
       RETURNING id
     )
     SELECT j.* FROM j, s`,
    [holdId, JSON.stringify(patch), HELD_RUN_AT],
  );
  const row = res.rows[0];
  return row === undefined ? null : jobFromRow(row);
}

/**
 * Open holds whose restore has ended: its job succeeded, failed or was cancelled, is gone,
 * or is running on a lease that lapsed more than `lapseGraceSeconds` ago with no attempt
 * left (or a cancel asked); and holds whose enqueuer never finished setting them within
 * `setTimeoutSeconds`. Oldest first, at most `limit`, only those due for a try.
 */
export async function listHoldsToRelease(
  q: Queryable,
  opts: { lapseGraceSeconds: number; setTimeoutSeconds: number; limit: number },
): Promise<HoldToRelease[]> {
  const res = await q.query<HoldRow & { job_state: JobState | null; job_held: boolean | null }>(
    `SELECT h.*, j.state AS job_state, (j.state = 'queued' AND j.run_at = $4) AS job_held
       FROM restore_target_holds h LEFT JOIN jobs j ON j.id = h.job_id
      WHERE h.released_at IS NULL AND h.next_try_at <= now()
        AND (j.id IS NULL
          OR j.state IN ('succeeded', 'failed', 'cancelled')
          OR (j.state = 'running' AND j.lease_expires_at < now() - make_interval(secs => $1)
              AND (j.attempts >= j.max_attempts OR j.cancel_requested_at IS NOT NULL))
          OR (h.phase = 'setting' AND h.created_at < now() - make_interval(secs => $2)))
      ORDER BY h.id
      LIMIT $3`,
    [opts.lapseGraceSeconds, opts.setTimeoutSeconds, opts.limit, HELD_RUN_AT],
  );
  return res.rows.map((r) => ({
    ...holdFromRow(r),
    jobState: r.job_state,
    jobHeld: r.job_held === true,
  }));
}

/** Closes an open hold; false when it was already closed (another releaser won). */
export async function closeHold(
  q: Queryable,
  holdId: number,
  releasedTo: string | null,
  note: string,
): Promise<boolean> {
  const res = await q.query(
    `UPDATE restore_target_holds
        SET phase = 'released', released_at = now(), released_to = $2, release_note = $3
      WHERE id = $1 AND released_at IS NULL`,
    [holdId, releasedTo, note],
  );
  return res.rowCount === 1;
}

/** A release attempt failed (Cinder unreachable...): tried again after `retryInSeconds`. */
export async function recordHoldReleaseFailure(
  q: Queryable,
  holdId: number,
  error: string,
  retryInSeconds: number,
): Promise<void> {
  await q.query(
    `UPDATE restore_target_holds
        SET attempts = attempts + 1, last_error = $2,
            next_try_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND released_at IS NULL`,
    [holdId, error.slice(0, 2000), retryInSeconds],
  );
}

/** One hold by id. */
export async function getHold(q: Queryable, holdId: number): Promise<RestoreTargetHold | null> {
  const res = await q.query<HoldRow>('SELECT * FROM restore_target_holds WHERE id = $1', [holdId]);
  const row = res.rows[0];
  return row === undefined ? null : holdFromRow(row);
}

/** The open hold of a target volume, if any. */
export async function openHoldOf(
  q: Queryable,
  volumeId: string,
): Promise<RestoreTargetHold | null> {
  const res = await q.query<HoldRow>(
    'SELECT * FROM restore_target_holds WHERE volume_id = $1 AND released_at IS NULL',
    [volumeId],
  );
  const row = res.rows[0];
  return row === undefined ? null : holdFromRow(row);
}
