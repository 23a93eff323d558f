/**
 * The poller's statements on the `volumes` table. `seen_at` is the time of the newest view a
 * row reflects (a poll page's fetch time or an event's time, see
 * src/notifications/apply-change.ts): a poll row never overwrites a row that an event
 * updated after the page was fetched, and only rows no view has touched since the poll
 * began count as gone from Cinder.
 */
import type { Queryable } from '../db/queryable.js';
import type { InventoryVolume } from './volume-from-cinder.js';

/** A volume row of one fetched page. */
export interface PolledVolume {
  volume: InventoryVolume;
  /** When the page holding it was requested. */
  seenAt: Date;
}

/** What the upsert did to one row. */
export interface UpsertOutcome {
  id: string;
  inserted: boolean;
  /** An existing row whose Cinder-side state changed (or that came back from deleted). */
  changed: boolean;
}

/** Inserts or refreshes polled volumes in one statement; returns the rows it wrote. */
export async function upsertPolledVolumes(
  q: Queryable,
  rows: PolledVolume[],
): Promise<UpsertOutcome[]> {
  if (rows.length === 0) return [];
  const input = rows.map(({ volume: v, seenAt }) => ({
    id: v.id,
    name: v.name,
    project_id: v.projectId,
    status: v.status,
    size_gb: v.sizeGb,
    host: v.host,
    backend_host: v.backendHost,
    lv_name: v.lvName,
    metadata: v.metadata,
    attachments: v.attachments,
    bootable: v.bootable,
    volume_type: v.volumeType,
    cinder_updated_at: v.cinderUpdatedAt?.toISOString() ?? null,
    seen_at: seenAt.toISOString(),
  }));
  const res = await q.query<UpsertOutcome>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
         id uuid, name text, project_id text, status text, size_gb integer, host text,
         backend_host text, lv_name text, metadata jsonb, attachments jsonb, bootable boolean,
         volume_type text, cinder_updated_at timestamptz, seen_at timestamptz)
     ), old AS (
       SELECT v.id, v.name, v.status, v.size_gb, v.host, v.lv_name, v.metadata, v.attachments,
              v.bootable, v.volume_type, v.deleted_at
         FROM volumes v JOIN input i ON i.id = v.id
     ), up AS (
       INSERT INTO volumes AS v (id, name, project_id, status, size_gb, host, backend_host,
                                 lv_name, metadata, attachments, bootable, volume_type,
                                 cinder_updated_at, seen_at, deleted_at)
       SELECT id, name, project_id, status, size_gb, host, backend_host, lv_name, metadata,
              attachments, bootable, volume_type, cinder_updated_at, seen_at, NULL
         FROM input
       ON CONFLICT (id) DO UPDATE SET
         name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
         size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
         lv_name = EXCLUDED.lv_name, metadata = EXCLUDED.metadata,
         attachments = EXCLUDED.attachments, bootable = EXCLUDED.bootable,
         volume_type = EXCLUDED.volume_type, cinder_updated_at = EXCLUDED.cinder_updated_at,
         seen_at = EXCLUDED.seen_at, deleted_at = NULL
       WHERE v.seen_at <= EXCLUDED.seen_at
       RETURNING v.id, v.name, v.status, v.size_gb, v.host, v.lv_name, v.metadata,
                 v.attachments, v.bootable, v.volume_type
     )
     SELECT up.id::text AS id,
            old.id IS NULL AS inserted,
            old.id IS NOT NULL AND (
              old.deleted_at IS NOT NULL
              OR old.name IS DISTINCT FROM up.name OR old.status IS DISTINCT FROM up.status
              OR old.size_gb IS DISTINCT FROM up.size_gb OR old.host IS DISTINCT FROM up.host
              OR old.lv_name IS DISTINCT FROM up.lv_name
              OR old.metadata IS DISTINCT FROM up.metadata
              OR old.attachments IS DISTINCT FROM up.attachments
              OR old.bootable IS DISTINCT FROM up.bootable
              OR old.volume_type IS DISTINCT FROM up.volume_type) AS changed
       FROM up LEFT JOIN old ON old.id = up.id`,
    [JSON.stringify(input)],
  );
  return res.rows;
}

/** Marks as seen volumes that Cinder listed but the poller could not map (never "gone"). */
export async function touchSeenVolumes(q: Queryable, ids: string[], seenAt: Date): Promise<void> {
  if (ids.length === 0) return;
  await q.query(`UPDATE volumes SET seen_at = GREATEST(seen_at, $2) WHERE id = ANY($1::uuid[])`, [
    ids,
    seenAt,
  ]);
}

/**
 * Volumes no view has touched since `pollStartedAt`: Cinder no longer lists them. They get
 * `deleted_at` (and status `deleted`, as the delete event writes); their backups stay.
 */
export async function markUnseenVolumesDeleted(
  q: Queryable,
  pollStartedAt: Date,
  now: Date,
): Promise<string[]> {
  const res = await q.query<{ id: string }>(
    `UPDATE volumes SET deleted_at = $2, status = 'deleted'
      WHERE deleted_at IS NULL AND seen_at < $1
      RETURNING id::text AS id`,
    [pollStartedAt, now],
  );
  return res.rows.map((r) => r.id);
}

/** Serialises concurrent polls' writes (two controllers during a leader change). */
export async function lockInventoryWrites(q: Queryable): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('cinder-lvm-backup:inventory-poll'))`);
}
