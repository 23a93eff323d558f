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
