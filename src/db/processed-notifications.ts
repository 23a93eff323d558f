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

/** Which of `messageIds` the ledger already holds (redeliveries). */
export async function knownNotificationIds(
  q: Queryable,
  messageIds: readonly string[],
): Promise<Set<string>> {
  if (messageIds.length === 0) return new Set();
  const res = await q.query<{ message_id: string }>(
    `SELECT message_id FROM processed_notifications WHERE message_id = ANY($1::text[])`,
    [messageIds],
  );
  return new Set(res.rows.map((r) => r.message_id));
}

/** A message's line in the ledger, with what applying it did. */
export interface NotificationRecord extends NotificationClaim {
  outcome: string;
}

/**
 * Records a batch's messages with their outcomes in one statement; returns how many were
 * new. Fewer than given means another consumer recorded one of them meanwhile.
 */
export async function recordNotifications(
  q: Queryable,
  records: readonly NotificationRecord[],
): Promise<number> {
  if (records.length === 0) return 0;
  const input = records.map((r) => ({
    message_id: r.messageId,
    event_type: r.eventType,
    volume_id: r.volumeId,
    outcome: r.outcome,
    event_at: r.eventAt.toISOString(),
  }));
  const res = await q.query(
    `INSERT INTO processed_notifications (message_id, event_type, volume_id, outcome, event_at,
                                          processed_at)
     SELECT message_id, event_type, volume_id, outcome, event_at, clock_timestamp()
       FROM jsonb_to_recordset($1::jsonb)
         AS r(message_id text, event_type text, volume_id uuid, outcome text,
              event_at timestamptz)
     ON CONFLICT (message_id) DO NOTHING`,
    [JSON.stringify(input)],
  );
  return res.rowCount ?? 0;
}
