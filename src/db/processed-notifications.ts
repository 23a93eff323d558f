/**
 * Statements on `processed_notifications` (0002_controller.sql): the ledger of applied
 * oslo message ids that makes a redelivered notification change nothing.
 */
import type { Queryable } from './queryable.js';

/** What a notification's claim records. */
export interface NotificationClaim {
  messageId: string;
  eventType: string;
  volumeId: string | null;
  eventAt: Date;
}

/**
 * Records a message id as being processed (outcome `pending`); false when it is already
 * in the ledger (a redelivery), in which case the caller changes nothing.
 */
export async function claimNotification(q: Queryable, c: NotificationClaim): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO processed_notifications (message_id, event_type, volume_id, outcome, event_at)
     VALUES ($1, $2, $3, 'pending', $4)
     ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
    [c.messageId, c.eventType, c.volumeId, c.eventAt],
  );
  return res.rowCount === 1;
}

/** Records what applying a claimed message did (applied, stale, ignored, ...). */
export async function recordNotificationOutcome(
  q: Queryable,
  messageId: string,
  outcome: string,
): Promise<void> {
  await q.query(`UPDATE processed_notifications SET outcome = $2 WHERE message_id = $1`, [
    messageId,
    outcome,
  ]);
}

/** Forgets processed message ids older than `days`; returns how many. */
export async function pruneProcessedNotifications(q: Queryable, days: number): Promise<number> {
  const res = await q.query(
    `DELETE FROM processed_notifications WHERE processed_at < now() - make_interval(days => $1)`,
    [days],
  );
  return res.rowCount ?? 0;
}
