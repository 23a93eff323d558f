/**
 * The job as the rest of the code sees it, and the mapping from a `jobs` row.
 */
export type JobKind = 'backup' | 'verify' | 'restore' | 'prune';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const JOB_KINDS: readonly JobKind[] = ['backup', 'verify', 'restore', 'prune'];

/** States after which a job never changes again. */
export const FINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface Job {
  id: number;
  kind: JobKind;
  volumeId: string;
  backendHost: string;
  lvName: string;
  reason: string;
  payload: Record<string, unknown>;
  state: JobState;
  runAt: Date;
  attempts: number;
  maxAttempts: number;
  lockedBy: string | null;
  lockedAt: Date | null;
  leaseExpiresAt: Date | null;
  cancelRequestedAt: Date | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  result: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** A row of `jobs` exactly as node-postgres returns it. */
export interface JobRow {
  id: string; // bigint arrives as a string
  kind: JobKind;
  volume_id: string;
  backend_host: string;
  lv_name: string;
  reason: string;
  payload: Record<string, unknown>;
  state: JobState;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  locked_by: string | null;
  locked_at: Date | null;
  lease_expires_at: Date | null;
  cancel_requested_at: Date | null;
  last_error_code: string | null;
  last_error_message: string | null;
  result: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export function jobFromRow(r: JobRow): Job {
  return {
    id: Number(r.id),
    kind: r.kind,
    volumeId: r.volume_id,
    backendHost: r.backend_host,
    lvName: r.lv_name,
    reason: r.reason,
    payload: r.payload,
    state: r.state,
    runAt: r.run_at,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    lockedBy: r.locked_by,
    lockedAt: r.locked_at,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequestedAt: r.cancel_requested_at,
    lastErrorCode: r.last_error_code,
    lastErrorMessage: r.last_error_message,
    result: r.result,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}
