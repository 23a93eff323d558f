/**
 * Queries of the `volumes` table (the inventory the controller keeps from Cinder).
 */
import type { Queryable } from './queryable.js';

export interface Volume {
  id: string;
  name: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  host: string | null;
  backendHost: string | null;
  lvName: string;
  metadata: Record<string, string>;
  policy: Record<string, unknown> | null;
  policyError: string | null;
  nextDueAt: Date | null;
  deletedAt: Date | null;
}

interface VolumeRow {
  id: string;
  name: string | null;
  project_id: string;
  status: string;
  size_gb: number;
  host: string | null;
  backend_host: string | null;
  lv_name: string;
  metadata: Record<string, string>;
  policy: Record<string, unknown> | null;
  policy_error: string | null;
  next_due_at: Date | null;
  deleted_at: Date | null;
}

function volumeFromRow(r: VolumeRow): Volume {
  return {
    id: r.id,
    name: r.name,
    projectId: r.project_id,
    status: r.status,
    sizeGb: r.size_gb,
    host: r.host,
    backendHost: r.backend_host,
    lvName: r.lv_name,
    metadata: r.metadata,
    policy: r.policy,
    policyError: r.policy_error,
    nextDueAt: r.next_due_at,
    deletedAt: r.deleted_at,
  };
}

/** Reads one volume of the inventory. */
export async function getVolume(q: Queryable, id: string): Promise<Volume | null> {
  const res = await q.query<VolumeRow>('SELECT * FROM volumes WHERE id = $1', [id]);
  const row = res.rows[0];
  return row === undefined ? null : volumeFromRow(row);
}

export interface VolumeUpsert {
  id: string;
  name?: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  /** `host@backend#pool`; backend_host is derived from it (pool stripped). */
  host: string | null;
  lvName: string;
  metadata?: Record<string, string>;
  policy?: Record<string, unknown> | null;
}

/** `host@backend#pool` → `host@backend`: what agents claim by. */
export function backendHostOf(host: string | null): string | null {
  if (host === null) return null;
  const hash = host.indexOf('#');
  return hash < 0 ? host : host.slice(0, hash);
}

/** Inserts or refreshes a volume as seen in Cinder (tests and manual registration). */
export async function upsertVolume(q: Queryable, v: VolumeUpsert): Promise<Volume> {
  const res = await q.query<VolumeRow>(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          metadata, policy, seen_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
     ON CONFLICT (id) DO UPDATE SET
       name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
       size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
       lv_name = EXCLUDED.lv_name, metadata = EXCLUDED.metadata, policy = EXCLUDED.policy,
       seen_at = now(), deleted_at = NULL
     RETURNING *`,
    [
      v.id,
      v.name ?? null,
      v.projectId,
      v.status,
      v.sizeGb,
      v.host,
      backendHostOf(v.host),
      v.lvName,
      JSON.stringify(v.metadata ?? {}),
      v.policy === undefined || v.policy === null ? null : JSON.stringify(v.policy),
    ],
  );
  return volumeFromRow(res.rows[0] as VolumeRow);
}

/** A tagged volume with where its backups stand (what `GET /v1/volumes` lists). */
export interface VolumeStatus {
  id: string;
  name: string | null;
  projectId: string;
  /** Cinder status (available, in-use, ...). */
  status: string;
  sizeGb: number;
  host: string | null;
  backendHost: string | null;
  lvName: string;
  attachments: unknown[];
  policy: Record<string, unknown> | null;
  /** The policy as one line (clb_policy_text of 0003_views.sql). */
  policyText: string | null;
  policyError: string | null;
  skipReason: string | null;
  lastSuccessAt: Date | null;
  lastAttemptAt: Date | null;
  /** Status of the last attempt: running, succeeded, failed, cancelled; null: never tried. */
  lastStatus: string | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  nextDueAt: Date | null;
  overdue: boolean;
  backupsKept: number;
  bytesKept: number;
  openJobs: { id: number; kind: string; state: string }[];
}

export interface VolumeStatusFilter {
  /** Only this project's volumes (null: every project). */
  projectId: string | null;
  /** Only volumes whose last attempt has this status; `never`: not tried yet. */
  lastStatus?: string;
  /** Only volumes that are (true) or are not (false) overdue. */
  overdue?: boolean;
  /** Only this volume. */
  volumeId?: string;
  /**
   * Grace after a due time before a volume counts as overdue: the scheduler and the agent
   * need some minutes to run a due backup.
   */
  overdueGraceSeconds: number;
}

interface VolumeStatusRow {
  id: string;
  name: string | null;
  project_id: string;
  status: string;
  size_gb: number;
  host: string | null;
  backend_host: string | null;
  lv_name: string;
  attachments: unknown[];
  policy: Record<string, unknown> | null;
  policy_text: string | null;
  policy_error: string | null;
  skip_reason: string | null;
  last_success_at: Date | null;
  last_attempt_at: Date | null;
  last_status: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  next_due_at: Date | null;
  overdue: boolean;
  backups_kept: string;
  bytes_kept: string;
  open_jobs: { id: number; kind: string; state: string }[];
}

/**
 * Tagged volumes (a policy or a policy error) with their backup figures; one row per
 * volume. Overdue: the last success is older than its interval schedule allows (plus the
 * grace), or, for cron schedules and volumes never backed up, the due time passed more than
 * the grace ago. Parameters: $1 project, $2 volume id, $3 grace seconds, $4 last status,
 * $5 overdue; the page parameters come after.
 */
const VOLUME_STATUS_SQL = `
  SELECT * FROM (
    SELECT v.id, v.name, v.project_id, v.status, v.size_gb, v.host, v.backend_host, v.lv_name,
           v.attachments, v.policy, clb_policy_text(v.policy) AS policy_text, v.policy_error,
           v.skip_reason, last_ok.finished_at AS last_success_at,
           last_try.started_at AS last_attempt_at, last_try.status AS last_status,
           last_try.error_code AS last_error_code, last_try.error_message AS last_error_message,
           v.next_due_at,
           coalesce(v.policy IS NOT NULL AND CASE
             WHEN last_ok.finished_at IS NOT NULL
                  AND v.policy -> 'schedule' ->> 'kind' = 'interval'
                  AND jsonb_typeof(v.policy -> 'schedule' -> 'everySeconds') = 'number'
               THEN last_ok.finished_at < now() - make_interval(
                      secs => (v.policy -> 'schedule' ->> 'everySeconds')::double precision + $3)
             ELSE v.next_due_at < now() - make_interval(secs => $3)
           END, false) AS overdue,
           coalesce(kept.n, 0) AS backups_kept, coalesce(kept.bytes, 0) AS bytes_kept,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', j.id, 'kind', j.kind,
                                                         'state', j.state) ORDER BY j.id), '[]')
              FROM jobs j WHERE j.volume_id = v.id AND j.state IN ('queued', 'running')) AS open_jobs
      FROM volumes v
      LEFT JOIN LATERAL (
        SELECT b.finished_at FROM backups b
         WHERE b.volume_id = v.id AND b.status = 'succeeded'
         ORDER BY b.finished_at DESC LIMIT 1) last_ok ON true
      LEFT JOIN LATERAL (
        SELECT b.started_at, b.status, b.error_code, b.error_message FROM backups b
         WHERE b.volume_id = v.id ORDER BY b.started_at DESC, b.id DESC LIMIT 1) last_try ON true
      LEFT JOIN LATERAL (
        SELECT count(*) AS n, sum(b.bytes_written)::bigint AS bytes FROM backups b
         WHERE b.volume_id = v.id AND b.status = 'succeeded' AND b.pruned_at IS NULL) kept ON true
     WHERE v.deleted_at IS NULL AND (v.policy IS NOT NULL OR v.policy_error IS NOT NULL)
       AND ($1::text IS NULL OR v.project_id = $1)
       AND ($2::uuid IS NULL OR v.id = $2)
  ) s
  WHERE ($4::text IS NULL OR CASE WHEN $4 = 'never' THEN s.last_status IS NULL
                                  ELSE s.last_status = $4 END)
    AND ($5::boolean IS NULL OR s.overdue = $5)`;

function filterParams(f: VolumeStatusFilter): unknown[] {
  return [
    f.projectId,
    f.volumeId ?? null,
    f.overdueGraceSeconds,
    f.lastStatus ?? null,
    f.overdue ?? null,
  ];
}

function volumeStatusFromRow(r: VolumeStatusRow): VolumeStatus {
  return {
    id: r.id,
    name: r.name,
    projectId: r.project_id,
    status: r.status,
    sizeGb: r.size_gb,
    host: r.host,
    backendHost: r.backend_host,
    lvName: r.lv_name,
    attachments: r.attachments,
    policy: r.policy,
    policyText: r.policy_text,
    policyError: r.policy_error,
    skipReason: r.skip_reason,
    lastSuccessAt: r.last_success_at,
    lastAttemptAt: r.last_attempt_at,
    lastStatus: r.last_status,
    lastErrorCode: r.last_error_code,
    lastErrorMessage: r.last_error_message,
    nextDueAt: r.next_due_at,
    overdue: r.overdue,
    backupsKept: Number(r.backups_kept),
    bytesKept: Number(r.bytes_kept),
    openJobs: r.open_jobs,
  };
}

/**
 * One page of tagged volumes in id order: those after `marker` (keyset pagination, so a
 * marker that has since gone still works), at most `limit`.
 */
export async function listVolumeStatus(
  q: Queryable,
  filter: VolumeStatusFilter,
  page: { limit: number; marker: string | null },
): Promise<VolumeStatus[]> {
  const res = await q.query<VolumeStatusRow>(
    `${VOLUME_STATUS_SQL} AND ($6::uuid IS NULL OR s.id > $6) ORDER BY s.id LIMIT $7`,
    [...filterParams(filter), page.marker, page.limit],
  );
  return res.rows.map(volumeStatusFromRow);
}

/** How many tagged volumes match the filter (all pages). */
export async function countVolumeStatus(q: Queryable, filter: VolumeStatusFilter): Promise<number> {
  const res = await q.query<{ n: string }>(
    `SELECT count(*) AS n FROM (${VOLUME_STATUS_SQL}) c`,
    filterParams(filter),
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** One tagged volume with its figures, or null (untagged, deleted or unknown). */
export async function getVolumeStatus(
  q: Queryable,
  id: string,
  overdueGraceSeconds: number,
): Promise<VolumeStatus | null> {
  const res = await q.query<VolumeStatusRow>(
    VOLUME_STATUS_SQL,
    filterParams({ projectId: null, volumeId: id, overdueGraceSeconds }),
  );
  const row = res.rows[0];
  return row === undefined ? null : volumeStatusFromRow(row);
}
