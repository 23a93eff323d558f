/**
 * The job queue: one exported function per statement, each taking a Queryable first so
 * callers can compose them inside a transaction. The `jobs` table decides what runs;
 * NOTIFY (a trigger on insert/requeue) only wakes agents early.
 *
 * Life of a job: queued → (claim) running → succeeded | failed | cancelled, or back to
 * queued on a retryable failure (with backoff), on release (shutdown), or when its lease
 * lapses (the claim statement takes over lapsed jobs of the claimer's hosts).
 * Every statement that changes a running job checks `locked_by`, so an agent that lost its
 * lease cannot overwrite the outcome of the agent that took the job over.
 */
import type { Queryable } from '../db/queryable.js';
import { jobFromRow, type Job, type JobKind, type JobRow } from './job.js';

/**
 * The run_at of a job put on the queue held back: never due, so no agent claims it until
 * its enqueuer makes it due (a restore, once its target is in `maintenance`).
 */
export const HELD_RUN_AT = new Date('9999-12-31T00:00:00.000Z');

export interface EnqueueRequest {
  kind: JobKind;
  volumeId: string;
  backendHost: string;
  lvName: string;
  /** Why it runs: `schedule`, `manual`, `event:volume.detach.end`, ... */
  reason: string;
  payload?: Record<string, unknown>;
  /** Not claimable before this time (default: now). */
  runAt?: Date;
  /** Claims allowed before a retryable failure becomes final (default 5). */
  maxAttempts?: number;
}

/**
 * Puts a job on the queue, or returns null when the volume already has an open (queued or
 * running) job of that kind (a prune: of that kind on that backend host, since each host
 * prunes the backups it holds): the partial unique indexes are the enqueue keys (0018).
 */
export async function enqueueJob(q: Queryable, req: EnqueueRequest): Promise<Job | null> {
  const res = await q.query<JobRow>(
    `INSERT INTO jobs (kind, volume_id, backend_host, lv_name, reason, payload, run_at, max_attempts)
     VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()), coalesce($8, 5))
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [
      req.kind,
      req.volumeId,
      req.backendHost,
      req.lvName,
      req.reason,
      JSON.stringify(req.payload ?? {}),
      req.runAt ?? null,
      req.maxAttempts ?? null,
    ],
  );
  const row = res.rows[0];
  return row === undefined ? null : jobFromRow(row);
}

export interface ClaimRequest {
  /** Who claims: recorded in locked_by and checked by every later statement. */
  agentId: string;
  /** Backend hosts (`host@backend`) this agent serves; jobs of other hosts are never taken. */
  hosts: readonly string[];
  /** Kinds to take (default: all). */
  kinds?: readonly JobKind[];
  limit: number;
  leaseSeconds: number;
}

/**
 * Claims up to `limit` jobs of the agent's hosts: queued ones that are due, and running
 * ones whose lease lapsed (their agent died) while they still have attempts left.
 * `FOR UPDATE SKIP LOCKED` lets many agents claim at once without waiting on each other.
 *
 * Fair share: on each host, candidates are taken in turns across projects (the project's
 * first due job, then every other project's first, then seconds...), and a project's turns
 * start behind the jobs it already has running there, so one project's hundred volumes
 * cannot hold a host's slots while another project's backups wait.
 */
export async function claimJobs(q: Queryable, req: ClaimRequest): Promise<Job[]> {
  if (req.limit <= 0 || req.hosts.length === 0) return [];
  const res = await q.query<JobRow>(
    `WITH candidates AS (
       SELECT j.id, j.run_at,
              row_number() OVER (PARTITION BY j.backend_host, v.project_id
                                 ORDER BY j.run_at, j.id)
              + (SELECT count(*) FROM jobs r JOIN volumes rv ON rv.id = r.volume_id
                  WHERE r.state = 'running' AND r.backend_host = j.backend_host
                    AND rv.project_id = v.project_id AND r.lease_expires_at >= now()) AS turn
         FROM jobs j JOIN volumes v ON v.id = j.volume_id
        WHERE j.backend_host = ANY($2::text[])
          AND ($3::text[] IS NULL OR j.kind = ANY($3::text[]))
          AND ((j.state = 'queued' AND j.run_at <= now())
            OR (j.state = 'running' AND j.lease_expires_at < now()
                AND j.attempts < j.max_attempts AND j.cancel_requested_at IS NULL))
     ),
     picked AS (
       SELECT j.id FROM jobs j JOIN candidates c ON c.id = j.id
        ORDER BY c.turn, c.run_at, c.id
        LIMIT $4
        FOR UPDATE OF j SKIP LOCKED
     )
     UPDATE jobs j
        SET state = 'running', locked_by = $1, locked_at = now(),
            lease_expires_at = now() + make_interval(secs => $5),
            attempts = j.attempts + 1, updated_at = now()
       FROM picked
      WHERE j.id = picked.id
        -- Still claimable: another agent may have taken it between the ranking and the lock.
        AND ((j.state = 'queued' AND j.run_at <= now())
          OR (j.state = 'running' AND j.lease_expires_at < now()
              AND j.attempts < j.max_attempts AND j.cancel_requested_at IS NULL))
     RETURNING j.*`,
    [req.agentId, req.hosts, req.kinds ?? null, req.limit, req.leaseSeconds],
  );
  return res.rows.map(jobFromRow).sort((a, b) => a.id - b.id);
}

/**
 * Ends jobs of these hosts whose lease lapsed after their last allowed attempt, or that
 * were asked to cancel while their agent was gone; returns them.
 */
export async function failLapsedJobs(q: Queryable, hosts: readonly string[]): Promise<Job[]> {
  const res = await q.query<JobRow>(
    `UPDATE jobs
        SET state = CASE WHEN cancel_requested_at IS NULL THEN 'failed' ELSE 'cancelled' END,
            last_error_code = CASE WHEN cancel_requested_at IS NULL THEN 'LEASE_EXPIRED'
                                   ELSE last_error_code END,
            last_error_message = CASE WHEN cancel_requested_at IS NULL
                                   THEN 'lease of ' || locked_by || ' lapsed on the last attempt'
                                   ELSE last_error_message END,
            locked_by = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
      WHERE state = 'running' AND lease_expires_at < now() AND backend_host = ANY($1::text[])
        AND (attempts >= max_attempts OR cancel_requested_at IS NOT NULL)
     RETURNING *`,
    [hosts],
  );
  return res.rows.map(jobFromRow);
}

export interface LeaseState {
  /** False when the lease was lost (it lapsed and another agent took the job, or it ended). */
  held: boolean;
  /** True when someone asked to cancel the job: the agent should abort it. */
  cancelRequested: boolean;
}

/** Extends the lease of a job this agent holds. */
export async function renewLease(
  q: Queryable,
  jobId: number,
  agentId: string,
  leaseSeconds: number,
): Promise<LeaseState> {
  const res = await q.query<{ cancel: boolean }>(
    `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
      WHERE id = $1 AND locked_by = $2 AND state = 'running'
     RETURNING cancel_requested_at IS NOT NULL AS cancel`,
    [jobId, agentId, leaseSeconds],
  );
  const row = res.rows[0];
  return row === undefined
    ? { held: false, cancelRequested: false }
    : { held: true, cancelRequested: row.cancel };
}

/** Marks a held job succeeded with its result; false when the lease was lost. */
export async function completeJob(
  q: Queryable,
  jobId: number,
  agentId: string,
  result: Record<string, unknown>,
): Promise<boolean> {
  const res = await q.query(
    `UPDATE jobs SET state = 'succeeded', result = $3, locked_by = NULL, lease_expires_at = NULL,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
    [jobId, agentId, JSON.stringify(result)],
  );
  return res.rowCount === 1;
}

export interface JobFailure {
  code: string;
  message: string;
  /** Whether another attempt may succeed (isRetryable of the error). */
  retryable: boolean;
  /** Seconds to wait before the retry (from backoffSeconds). */
  retryInSeconds: number;
  result?: Record<string, unknown>;
}

/**
 * Records a failed attempt of a held job: back to queued after the backoff when the error
 * is retryable and attempts remain, failed otherwise. Returns the new state, or null when
 * the lease was lost.
 */
export async function failJob(
  q: Queryable,
  jobId: number,
  agentId: string,
  failure: JobFailure,
): Promise<'queued' | 'failed' | null> {
  const res = await q.query<{ state: 'queued' | 'failed' }>(
    `UPDATE jobs
        SET state = CASE WHEN $5 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
            run_at = CASE WHEN $5 AND attempts < max_attempts
                          THEN now() + make_interval(secs => $6) ELSE run_at END,
            finished_at = CASE WHEN $5 AND attempts < max_attempts THEN NULL ELSE now() END,
            last_error_code = $3, last_error_message = $4, result = $7,
            locked_by = NULL, lease_expires_at = NULL, updated_at = now()
      WHERE id = $1 AND locked_by = $2 AND state = 'running'
     RETURNING state`,
    [
      jobId,
      agentId,
      failure.code,
      failure.message,
      failure.retryable,
      failure.retryInSeconds,
      failure.result === undefined ? null : JSON.stringify(failure.result),
    ],
  );
  return res.rows[0]?.state ?? null;
}

/**
 * Gives a held job back without counting the attempt (the agent is shutting down and
 * aborted it): queued again and claimable at once. False when the lease was lost.
 */
export async function releaseJob(q: Queryable, jobId: number, agentId: string): Promise<boolean> {
  const res = await q.query(
    `UPDATE jobs SET state = 'queued', run_at = now(), attempts = greatest(attempts - 1, 0),
            locked_by = NULL, lease_expires_at = NULL, updated_at = now()
      WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
    [jobId, agentId],
  );
  return res.rowCount === 1;
}

/** Marks a held job cancelled after the agent stopped it on request. */
export async function markJobCancelled(
  q: Queryable,
  jobId: number,
  agentId: string,
): Promise<boolean> {
  const res = await q.query(
    `UPDATE jobs SET state = 'cancelled', locked_by = NULL, lease_expires_at = NULL,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND locked_by = $2 AND state = 'running'`,
    [jobId, agentId],
  );
  return res.rowCount === 1;
}

/**
 * Cancels a job: a queued job ends at once; a running one is flagged and its agent stops
 * it at the next lease renewal (NOTIFY `clb_job_cancel` wakes it sooner). Returns the job
 * afterwards, or null when there is no such job.
 */
export async function cancelJob(q: Queryable, jobId: number): Promise<Job | null> {
  const res = await q.query<JobRow>(
    `WITH changed AS (
       UPDATE jobs
          SET state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
              finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
              cancel_requested_at = CASE WHEN state = 'running' THEN now()
                                         ELSE cancel_requested_at END,
              updated_at = now()
        WHERE id = $1 AND state IN ('queued', 'running')
       RETURNING *
     )
     SELECT c.*, CASE WHEN c.state = 'running'
                      THEN pg_notify('clb_job_cancel', c.id::text) END AS hint
       FROM changed c`,
    [jobId],
  );
  const row = res.rows[0];
  // Nothing changed: the job does not exist or has already ended; report it as it is.
  return row === undefined ? getJob(q, jobId) : jobFromRow(row);
}

/**
 * Ends a job that is still held back (HELD_RUN_AT) as failed with `code`: its enqueuer
 * gave up on it before it became claimable. False when it is no longer held.
 */
export async function failHeldJob(
  q: Queryable,
  jobId: number,
  code: string,
  message: string,
): Promise<boolean> {
  const res = await q.query(
    `UPDATE jobs SET state = 'failed', last_error_code = $2, last_error_message = $3,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND state = 'queued' AND run_at = $4`,
    [jobId, code, message, HELD_RUN_AT],
  );
  return res.rowCount === 1;
}

/** Reads one job. */
export async function getJob(q: Queryable, jobId: number): Promise<Job | null> {
  const res = await q.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [jobId]);
  const row = res.rows[0];
  return row === undefined ? null : jobFromRow(row);
}

/**
 * The open job of a kind for a volume, if any (what blocked an enqueue). Prunes are open
 * once per host (0018): give `backendHost` to find the one that blocked an enqueue there.
 */
export async function findOpenJob(
  q: Queryable,
  volumeId: string,
  kind: JobKind,
  backendHost?: string,
): Promise<Job | null> {
  const res = await q.query<JobRow>(
    `SELECT * FROM jobs WHERE volume_id = $1 AND kind = $2 AND state IN ('queued', 'running')
        AND ($3::text IS NULL OR backend_host = $3)
      ORDER BY id LIMIT 1`,
    [volumeId, kind, backendHost ?? null],
  );
  const row = res.rows[0];
  return row === undefined ? null : jobFromRow(row);
}

/** How many open (queued or running) jobs of any kind a volume has. */
export async function countOpenJobs(q: Queryable, volumeId: string): Promise<number> {
  const res = await q.query<{ n: string }>(
    `SELECT count(*) AS n FROM jobs WHERE volume_id = $1 AND state IN ('queued', 'running')`,
    [volumeId],
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** Open jobs by kind and state: the queue's depth (metrics). */
export async function countOpenJobsByKind(
  q: Queryable,
): Promise<{ kind: string; state: string; count: number }[]> {
  const res = await q.query<{ kind: string; state: string; n: string }>(
    `SELECT kind, state, count(*) AS n FROM jobs WHERE state IN ('queued', 'running')
      GROUP BY kind, state`,
  );
  return res.rows.map((r) => ({ kind: r.kind, state: r.state, count: Number(r.n) }));
}
