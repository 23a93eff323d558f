/**
 * Statements on `dead_notifications` (0002_controller.sql): a record of every message the
 * consumer dead-lettered and why. The body itself stays in the dead-letter queue.
 */
import type { Queryable } from './queryable.js';

/** What the consumer records about a dead-lettered message (never its body). */
export interface DeadLetterRecord {
  messageId: string | null;
  eventType: string | null;
  reason: string;
  exchange: string;
  routingKey: string;
  bodyBytes: number;
  bodySha256: string;
}

/** Records a dead-lettered message. */
export async function recordDeadLetter(q: Queryable, r: DeadLetterRecord): Promise<void> {
  await q.query(
    `INSERT INTO dead_notifications (message_id, event_type, reason, exchange, routing_key,
                                     body_bytes, body_sha256)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [r.messageId, r.eventType, r.reason, r.exchange, r.routingKey, r.bodyBytes, r.bodySha256],
  );
}

/** Forgets dead-letter records older than `days` (the queue's copies expire alike); how many. */
export async function pruneDeadNotifications(q: Queryable, days: number): Promise<number> {
  const res = await q.query(
    `DELETE FROM dead_notifications WHERE dead_at < now() - make_interval(days => $1)`,
    [days],
  );
  return res.rowCount ?? 0;
}
