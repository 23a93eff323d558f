/**
 * Backups of live volumes that another backend host holds: the volume moved (Cinder
 * migration or retype: its host changed) and its older backups stayed on the old host's
 * destination. Only that host's agent may delete them, so the controller's pass routes a
 * retention prune to it (src/jobs/orphan-pass.ts).
 */
import type { Queryable } from './queryable.js';

/** A live volume with a policy and the backups one other host holds of it. */
export interface HeldElsewhere {
  volumeId: string;
  lvName: string;
  /** The host that holds them (not the volume's host). */
  backendHost: string;
  backupRowIds: number[];
  /** True while a prune of this volume is open on that host. */
  hasOpenPrune: boolean;
  /** When the last prune of this volume on that host was queued, or null. */
  lastPruneQueuedAt: Date | null;
  /**
   * When a prune of the volume elsewhere last finished wanting some of these backups gone
   * (its result's `heldElsewhere` names this host), or null: retention has said so.
   */
  lastAskedAt: Date | null;
}

interface Row {
  volume_id: string;
  lv_name: string;
  backend_host: string;
  backup_row_ids: number[];
  has_open_prune: boolean;
  last_prune_queued_at: Date | null;
  last_asked_at: Date | null;
}

/** Every (live volume with a policy, other host) pair with unpruned backups held there. */
export async function listHeldElsewhere(q: Queryable): Promise<HeldElsewhere[]> {
  const res = await q.query<Row>(
    `SELECT v.id::text AS volume_id, v.lv_name, b.backend_host,
            array_agg(b.id ORDER BY b.started_at DESC, b.id DESC) AS backup_row_ids,
            EXISTS (SELECT 1 FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'prune'
                      AND j.backend_host = b.backend_host
                      AND j.state IN ('queued', 'running')) AS has_open_prune,
            (SELECT max(j.created_at) FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'prune'
                AND j.backend_host = b.backend_host) AS last_prune_queued_at,
            (SELECT max(j.finished_at) FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'prune'
                AND j.state = 'succeeded' AND j.backend_host <> b.backend_host
                AND j.result -> 'heldElsewhere'
                    @> jsonb_build_array(jsonb_build_object('backendHost', b.backend_host)))
              AS last_asked_at
       FROM volumes v JOIN backups b ON b.volume_id = v.id
      WHERE v.deleted_at IS NULL AND v.policy IS NOT NULL AND v.policy_error IS NULL
        AND b.status = 'succeeded' AND b.pruned_at IS NULL
        AND b.backend_host IS NOT NULL AND b.backend_host IS DISTINCT FROM v.backend_host
      GROUP BY v.id, v.lv_name, b.backend_host
      ORDER BY v.id, b.backend_host`,
  );
  return res.rows.map((r) => ({
    volumeId: r.volume_id,
    lvName: r.lv_name,
    backendHost: r.backend_host,
    backupRowIds: r.backup_row_ids.map(Number),
    hasOpenPrune: r.has_open_prune,
    lastPruneQueuedAt: r.last_prune_queued_at,
    lastAskedAt: r.last_asked_at,
  }));
}

/** One row of the `stranded_backups` view (0018_prune_per_holder.sql). */
export interface StrandedBackupRow {
  backup_row_id: number;
  backup_id: string | null;
  volume_id: string;
  volume_name: string | null;
  project_id: string;
  held_by: string;
  volume_host: string | null;
  holder_last_seen_at: Date | null;
  finished_at: Date | null;
  bytes_written: number | null;
  reason: string;
}

/** The `stranded_backups` view: backups whose holding host's agent is gone. */
export async function listStrandedBackups(q: Queryable): Promise<StrandedBackupRow[]> {
  const res = await q.query<
    StrandedBackupRow & { backup_row_id: string; bytes_written: string | null }
  >(
    `SELECT backup_row_id, backup_id, volume_id::text AS volume_id, volume_name, project_id,
            held_by, volume_host, holder_last_seen_at, finished_at, bytes_written, reason
       FROM stranded_backups`,
  );
  return res.rows.map((r) => ({
    ...r,
    backup_row_id: Number(r.backup_row_id),
    bytes_written: r.bytes_written === null ? null : Number(r.bytes_written),
  }));
}
