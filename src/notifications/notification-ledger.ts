/**
 * Statements on the controller's notification tables (0002_controller.sql) other than the
 * per-message claim, which lives with the change it guards (apply-change.ts).
 */
import type { Queryable } from '../db/queryable.js';
import type { DeadLetterRecord } from './consumer.js';

/** Records a dead-lettered message (the body stays in the dead-letter queue). */
export async function recordDeadLetter(q: Queryable, r: DeadLetterRecord): Promise<void> {
  await q.query(
    `INSERT INTO dead_notifications (message_id, event_type, reason, exchange, routing_key,
                                     body_bytes, body_sha256)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [r.messageId, r.eventType, r.reason, r.exchange, r.routingKey, r.bodyBytes, r.bodySha256],
  );
}

/** Forgets processed message ids older than `days`; returns how many. */
export async function pruneProcessedNotifications(q: Queryable, days: number): Promise<number> {
  const res = await q.query(
    `DELETE FROM processed_notifications WHERE processed_at < now() - make_interval(days => $1)`,
    [days],
  );
  return res.rowCount ?? 0;
}
