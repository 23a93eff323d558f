/**
 * Queries of the `destination_space` table (0008_mail_reports.sql): each storage node's
 * backup destination, its size and free space as the agent last measured them.
 */
import type { Queryable } from './queryable.js';

export interface DestinationSpace {
  node: string;
  dest: string;
  sizeBytes: number;
  freeBytes: number;
  reportedAt: Date;
}

/** Records a measurement (replaces the previous one of that node and destination). */
export async function recordDestinationSpace(
  q: Queryable,
  s: { node: string; dest: string; sizeBytes: number; freeBytes: number },
): Promise<void> {
  await q.query(
    `INSERT INTO destination_space (node, dest, size_bytes, free_bytes) VALUES ($1, $2, $3, $4)
     ON CONFLICT (node, dest) DO UPDATE
       SET size_bytes = EXCLUDED.size_bytes, free_bytes = EXCLUDED.free_bytes,
           reported_at = now()`,
    [s.node, s.dest, s.sizeBytes, s.freeBytes],
  );
}

/** Every destination's last measurement. */
export async function listDestinationSpace(q: Queryable): Promise<DestinationSpace[]> {
  const res = await q.query<{
    node: string;
    dest: string;
    size_bytes: string;
    free_bytes: string;
    reported_at: Date;
  }>('SELECT * FROM destination_space ORDER BY node, dest');
  return res.rows.map((r) => ({
    node: r.node,
    dest: r.dest,
    sizeBytes: Number(r.size_bytes),
    freeBytes: Number(r.free_bytes),
    reportedAt: r.reported_at,
  }));
}
