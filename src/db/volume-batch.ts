/**
 * The `volumes` statements of the notification path's batches (0001_catalog.sql): read and
 * lock every row a batch touches in one statement, write the rows it leaves behind in one
 * statement. Kept apart from volumes.ts, whose per-row statements the one-message path and
 * the poller use.
 */
import { inventoryColumns, type InventoryAttachment, type InventoryVolume } from './volumes.js';
import type { Queryable } from './queryable.js';

/** A whole inventory row, as the batch folds it (notifications/fold-changes.ts). */
export type VolumeRecord = Omit<InventoryVolume, 'nameId'> & {
  seenAt: Date;
  deletedAt: Date | null;
  policy: Record<string, unknown> | null;
  policyError: string | null;
};

interface RecordRow {
  id: string;
  name: string | null;
  project_id: string;
  status: string;
  size_gb: number;
  host: string | null;
  backend_host: string | null;
  lv_name: string;
  metadata: Record<string, string>;
  attachments: InventoryAttachment[];
  bootable: boolean;
  volume_type: string | null;
  cinder_updated_at: Date | null;
  seen_at: Date;
  deleted_at: Date | null;
  policy: Record<string, unknown> | null;
  policy_error: string | null;
}

/**
 * Reads and locks (until the caller's transaction ends) the rows of `ids` that exist. Rows
 * are locked in id order, so two controllers' batches never deadlock on each other.
 */
export async function lockVolumeRecords(
  q: Queryable,
  ids: readonly string[],
): Promise<Map<string, VolumeRecord>> {
  const out = new Map<string, VolumeRecord>();
  if (ids.length === 0) return out;
  const res = await q.query<RecordRow>(
    `SELECT id::text AS id, name, project_id, status, size_gb, host, backend_host, lv_name,
            metadata, attachments, bootable, volume_type, cinder_updated_at, seen_at,
            deleted_at, policy, policy_error
       FROM volumes WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [ids],
  );
  for (const r of res.rows) {
    out.set(r.id, {
      id: r.id,
      name: r.name,
      projectId: r.project_id,
      status: r.status,
      sizeGb: r.size_gb,
      host: r.host,
      backendHost: r.backend_host,
      lvName: r.lv_name,
      metadata: r.metadata,
      attachments: r.attachments,
      bootable: r.bootable,
      volumeType: r.volume_type,
      cinderUpdatedAt: r.cinder_updated_at,
      seenAt: r.seen_at,
      deletedAt: r.deleted_at,
      policy: r.policy,
      policyError: r.policy_error,
    });
  }
  return out;
}

/**
 * Writes whole rows (inserting the new ones) in one statement. Times are never written
 * later than the database clock, so no row is pinned in the future. When a row's policy
 * changes to none, its due time and skip reason go with it (as recordPolicy does).
 */
export async function writeVolumeRecords(
  q: Queryable,
  rows: readonly VolumeRecord[],
  options: { newerOnly?: boolean } = {},
): Promise<void> {
  if (rows.length === 0) return;
  const input = rows.map((v) => ({
    ...inventoryColumns(v),
    seen_at: v.seenAt.toISOString(),
    deleted_at: v.deletedAt?.toISOString() ?? null,
    policy: v.policy,
    policy_error: v.policyError,
  }));
  await q.query(
    `INSERT INTO volumes AS v (id, name, project_id, status, size_gb, host, backend_host,
                               lv_name, metadata, attachments, bootable, volume_type,
                               cinder_updated_at, seen_at, deleted_at, policy, policy_error)
     SELECT id, name, project_id, status, size_gb, host, backend_host, lv_name, metadata,
            attachments, bootable, volume_type, cinder_updated_at, LEAST(seen_at, now()),
            -- LEAST skips NULLs: a live row's NULL must stay NULL.
            CASE WHEN deleted_at IS NOT NULL THEN LEAST(deleted_at, now()) END, policy,
            policy_error
       FROM jsonb_to_recordset($1::jsonb) AS r(
         id uuid, name text, project_id text, status text, size_gb integer, host text,
         backend_host text, lv_name text, metadata jsonb, attachments jsonb, bootable boolean,
         volume_type text, cinder_updated_at timestamptz, seen_at timestamptz,
         deleted_at timestamptz, policy jsonb, policy_error text)
     ON CONFLICT (id) DO UPDATE SET
       name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
       size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
       lv_name = EXCLUDED.lv_name, metadata = EXCLUDED.metadata,
       attachments = EXCLUDED.attachments, bootable = EXCLUDED.bootable,
       volume_type = EXCLUDED.volume_type, cinder_updated_at = EXCLUDED.cinder_updated_at,
       seen_at = GREATEST(v.seen_at, EXCLUDED.seen_at), deleted_at = EXCLUDED.deleted_at,
       policy = EXCLUDED.policy, policy_error = EXCLUDED.policy_error,
       next_due_at = CASE WHEN EXCLUDED.policy IS NULL
                           AND (v.policy IS DISTINCT FROM EXCLUDED.policy
                                OR v.policy_error IS DISTINCT FROM EXCLUDED.policy_error)
                          THEN NULL ELSE v.next_due_at END,
       skip_reason = CASE WHEN EXCLUDED.policy IS NULL
                           AND (v.policy IS DISTINCT FROM EXCLUDED.policy
                                OR v.policy_error IS DISTINCT FROM EXCLUDED.policy_error)
                          THEN NULL ELSE v.skip_reason END
     ${options.newerOnly === true ? 'WHERE v.seen_at < EXCLUDED.seen_at' : ''}`,
    [JSON.stringify(input)],
  );
}
