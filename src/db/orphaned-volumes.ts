/**
 * Statements of the controller's orphan pass (src/jobs/orphan-pass.ts) on volumes that are
 * deleted in Cinder or have no policy and still hold backups: which they are, when the
 * grace of an untagged one starts, and when each one's backups go.
 */
import type { Queryable } from './queryable.js';

/** A deleted or policy-less volume that holds successful, unpruned backups. */
export interface OrphanCandidate {
  id: string;
  lvName: string;
  deletedAt: Date | null;
  policyOffAt: Date | null;
  /** Has a policy or a policy error (the scheduler's last record). */
  hasPolicy: boolean;
  orphanPruneAt: Date | null;
  /** Its unpruned backups by the backend host whose destination holds them, each with
   * whether a prune of the volume is open on that host and when its last prune there for
   * being gone failed (or null). */
  backupsByHost: {
    backendHost: string;
    backupRowIds: number[];
    hasOpenPruneJob: boolean;
    lastFailedPruneAt: Date | null;
  }[];
  /** Unpruned backups whose host is unknown (no job, no volume host): never pruned. */
  unplaced: number[];
}

interface CandidateRow {
  id: string;
  lv_name: string;
  deleted_at: Date | null;
  policy_off_at: Date | null;
  has_policy: boolean;
  orphan_prune_at: Date | null;
  open_prune_hosts: string[];
  failed_prunes: { host: string; at: string }[] | null;
  backups: { id: number; host: string | null }[] | null;
}

/**
 * Every volume that is deleted, or live without a policy or policy error, and holds
 * successful unpruned backups, each with them (newest first) by holding host.
 */
export async function listOrphanCandidates(q: Queryable): Promise<OrphanCandidate[]> {
  const res = await q.query<CandidateRow>(
    `SELECT v.id::text AS id, v.lv_name, v.deleted_at, v.policy_off_at,
            (v.policy IS NOT NULL OR v.policy_error IS NOT NULL) AS has_policy,
            v.orphan_prune_at,
            ARRAY(SELECT j.backend_host FROM jobs j WHERE j.volume_id = v.id AND j.kind = 'prune'
                    AND j.state IN ('queued', 'running')) AS open_prune_hosts,
            (SELECT jsonb_agg(jsonb_build_object('host', f.backend_host, 'at', f.at))
               FROM (SELECT j.backend_host, max(j.finished_at) AS at FROM jobs j
                      WHERE j.volume_id = v.id AND j.kind = 'prune' AND j.state = 'failed'
                        AND j.reason LIKE 'orphan:%'
                      GROUP BY j.backend_host) f) AS failed_prunes,
            (SELECT jsonb_agg(jsonb_build_object('id', b.id,
                                                 'host', coalesce(b.backend_host, v.backend_host))
                              ORDER BY b.started_at DESC, b.id DESC)
               FROM backups b
              WHERE b.volume_id = v.id AND b.status = 'succeeded' AND b.pruned_at IS NULL)
              AS backups
       FROM volumes v
      WHERE (v.deleted_at IS NOT NULL OR (v.policy IS NULL AND v.policy_error IS NULL))
        AND EXISTS (SELECT 1 FROM backups b WHERE b.volume_id = v.id
                      AND b.status = 'succeeded' AND b.pruned_at IS NULL)
      ORDER BY v.id`,
  );
  return res.rows.map((r) => {
    const byHost = new Map<string, number[]>();
    const unplaced: number[] = [];
    for (const b of r.backups ?? []) {
      if (b.host === null) unplaced.push(b.id);
      else byHost.set(b.host, [...(byHost.get(b.host) ?? []), b.id]);
    }
    const failed = new Map((r.failed_prunes ?? []).map((f) => [f.host, new Date(f.at)]));
    return {
      id: r.id,
      lvName: r.lv_name,
      deletedAt: r.deleted_at,
      policyOffAt: r.policy_off_at,
      hasPolicy: r.has_policy,
      orphanPruneAt: r.orphan_prune_at,
      backupsByHost: [...byHost].map(([backendHost, backupRowIds]) => ({
        backendHost,
        backupRowIds,
        hasOpenPruneJob: r.open_prune_hosts.includes(backendHost),
        lastFailedPruneAt: failed.get(backendHost) ?? null,
      })),
      unplaced,
    };
  });
}

/**
 * Starts the grace of live volumes without a policy that hold backups but have no
 * `policy_off_at` yet (never tagged, e.g. backed up by hand), at `now`. Returns each
 * volume's start in effect.
 */
export async function startPolicyOff(
  q: Queryable,
  ids: readonly string[],
  now: Date,
): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const res = await q.query<{ id: string; policy_off_at: Date }>(
    `UPDATE volumes SET policy_off_at = coalesce(policy_off_at, $2)
      WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL AND policy IS NULL
        AND policy_error IS NULL
      RETURNING id::text AS id, policy_off_at`,
    [ids, now],
  );
  return new Map(res.rows.map((r) => [r.id, r.policy_off_at]));
}

/** Records when gone volumes' backups are pruned (for the `orphaned_volumes` view). */
export async function setOrphanPruneAt(
  q: Queryable,
  rows: readonly { id: string; at: Date }[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `UPDATE volumes v SET orphan_prune_at = r.at
       FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, at timestamptz)
      WHERE v.id = r.id AND v.orphan_prune_at IS DISTINCT FROM r.at`,
    [JSON.stringify(rows.map((r) => ({ id: r.id, at: r.at.toISOString() })))],
  );
}

/** Clears the prune time of volumes that are back (in Cinder again, or with a policy). */
export async function clearRevivedPruneAt(q: Queryable): Promise<number> {
  const res = await q.query(
    `UPDATE volumes SET orphan_prune_at = NULL
      WHERE orphan_prune_at IS NOT NULL AND deleted_at IS NULL
        AND (policy_off_at IS NULL OR policy IS NOT NULL OR policy_error IS NOT NULL)`,
  );
  return res.rowCount ?? 0;
}

/** One row of the `orphaned_volumes` view (0014_orphan_prune.sql). */
export interface OrphanedVolumeRow {
  volume_id: string;
  volume_name: string | null;
  project_id: string;
  backend_host: string | null;
  gone: 'deleted' | 'off';
  gone_since: Date;
  prune_at: Date | null;
  backups_kept: number;
  bytes_kept: number;
  backups_pruned: number;
  last_pruned_at: Date | null;
  prune_reason: string | null;
  open_jobs: string | null;
}

/** The `orphaned_volumes` view. */
export async function listOrphanedVolumes(q: Queryable): Promise<OrphanedVolumeRow[]> {
  const res = await q.query<
    Omit<OrphanedVolumeRow, 'backups_kept' | 'bytes_kept' | 'backups_pruned'> & {
      backups_kept: string;
      bytes_kept: string;
      backups_pruned: string;
    }
  >(
    `SELECT volume_id::text AS volume_id, volume_name, project_id, backend_host, gone,
            gone_since, prune_at, backups_kept, bytes_kept, backups_pruned, last_pruned_at,
            prune_reason, open_jobs
       FROM orphaned_volumes`,
  );
  return res.rows.map((r) => ({
    ...r,
    backups_kept: Number(r.backups_kept),
    bytes_kept: Number(r.bytes_kept),
    backups_pruned: Number(r.backups_pruned),
  }));
}
