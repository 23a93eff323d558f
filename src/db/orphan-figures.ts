/**
 * Catalog figures of the prunes of gone and moved volumes' backups, for /metrics: what
 * was pruned because its volume was gone, which prunes were refused (and why), and what
 * is stranded on a host whose agent is gone.
 */
import type { Queryable } from './queryable.js';

export interface OrphanFigures {
  /** Backups pruned because their volume was deleted or switched off (not retention). */
  prunedGone: number;
  /** Failed prunes of gone or moved volumes' backups, by error code (PRUNE_WRONG_HOST ...). */
  refusals: { code: string; count: number }[];
  /** Rows of the `stranded_backups` view. */
  stranded: number;
}

export async function loadOrphanFigures(q: Queryable): Promise<OrphanFigures> {
  const res = await q.query<{ pruned: string; stranded: string; refusals: unknown }>(
    `SELECT (SELECT count(*) FROM backups
              WHERE pruned_at IS NOT NULL AND prune_reason IS NOT NULL
                AND prune_reason <> 'retention') AS pruned,
            (SELECT count(*) FROM stranded_backups) AS stranded,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('code', code, 'count', n)), '[]')
               FROM (SELECT coalesce(last_error_code, 'unknown') AS code, count(*) AS n
                       FROM jobs
                      WHERE kind = 'prune' AND state = 'failed'
                        AND (reason LIKE 'orphan:%' OR reason = 'moved')
                      GROUP BY 1) r) AS refusals`,
  );
  const row = res.rows[0];
  return {
    prunedGone: Number(row?.pruned ?? 0),
    refusals: (row?.refusals ?? []) as { code: string; count: number }[],
    stranded: Number(row?.stranded ?? 0),
  };
}
