/**
 * Statements on `volume_hints` (0013_volume_hints.sql): claims of the bus about what steers
 * a volume's backups, waiting for the Cinder API to confirm them. The notification path
 * records them (one statement per batch); the hint confirmer claims the due ones under a
 * lease (so several controllers share them), looks each volume up and settles them.
 */
import type { Queryable } from './queryable.js';

/** A backup trigger (`backup:on`) an event asked for, to run once Cinder confirms. */
export interface PendingTrigger {
  trigger: string;
  eventType: string;
  eventAt: string;
}

/** What a batch records for one volume. */
export interface VolumeHint {
  volumeId: string;
  eventType: string;
  eventAt: Date;
  /** The steering values the latest event claimed (shown to operators, never applied). */
  claims: Record<string, unknown>;
  triggers: PendingTrigger[];
  events: number;
  /** When the hint becomes due at the earliest (a short delay coalesces a burst). */
  dueAt: Date;
}

/**
 * Records hints; a volume's existing hint takes the newer claim, adds the triggers and
 * the count, and stays due no later than before.
 *
 * `maxUnknown` bounds the hints of volumes the inventory does not hold: a forged event
 * with a made-up volume id adds such a hint, and the confirmer settles them no faster than
 * its Cinder lookup rate. Past the bound, new hints of unknown volumes are dropped (a real
 * new volume is still found by the next inventory poll); hints of inventory volumes, and
 * hints that already wait, are always recorded. Returns the ids dropped.
 */
export async function recordVolumeHints(
  q: Queryable,
  hints: readonly VolumeHint[],
  options: { maxUnknown?: number } = {},
): Promise<string[]> {
  if (hints.length === 0) return [];
  const input = hints.map((h, ord) => ({
    volume_id: h.volumeId,
    event_type: h.eventType,
    event_at: h.eventAt.toISOString(),
    claims: h.claims,
    triggers: h.triggers,
    events: h.events,
    due_at: h.dueAt.toISOString(),
    ord,
  }));
  const res = await q.query<{ volume_id: string }>(
    `WITH r AS (
       SELECT r.*, NOT EXISTS (SELECT 1 FROM volumes v WHERE v.id = r.volume_id)
                   AND NOT EXISTS (SELECT 1 FROM volume_hints w WHERE w.volume_id = r.volume_id)
                   AS new_unknown
         FROM jsonb_to_recordset($1::jsonb) AS r(volume_id uuid, event_type text,
                event_at timestamptz, claims jsonb, triggers jsonb, events integer,
                due_at timestamptz, ord integer)),
     room AS (
       SELECT $2::bigint - count(*) AS n FROM volume_hints w
        WHERE $2::bigint IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM volumes v WHERE v.id = w.volume_id)),
     numbered AS (
       SELECT r.*, CASE WHEN r.new_unknown
                        THEN row_number() OVER (PARTITION BY r.new_unknown ORDER BY r.ord) END AS k
         FROM r)
     INSERT INTO volume_hints AS h (volume_id, event_type, event_at, claims, triggers, events,
                                    next_try_at)
     SELECT volume_id, event_type, event_at, claims, triggers, events, due_at
       FROM numbered
      WHERE k IS NULL OR $2::bigint IS NULL OR k <= (SELECT n FROM room)
      -- Rows are written (and locked) in the order given: callers pass them in id order.
      ORDER BY ord
     ON CONFLICT (volume_id) DO UPDATE SET
       event_type = CASE WHEN EXCLUDED.event_at >= h.event_at THEN EXCLUDED.event_type
                         ELSE h.event_type END,
       claims = CASE WHEN EXCLUDED.event_at >= h.event_at THEN EXCLUDED.claims ELSE h.claims END,
       event_at = GREATEST(h.event_at, EXCLUDED.event_at),
       triggers = h.triggers || EXCLUDED.triggers,
       events = h.events + EXCLUDED.events,
       updated_at = clock_timestamp(), version = h.version + 1,
       next_try_at = LEAST(h.next_try_at, EXCLUDED.next_try_at)
     RETURNING h.volume_id::text AS volume_id`,
    [JSON.stringify(input), options.maxUnknown ?? null],
  );
  const kept = new Set(res.rows.map((r) => r.volume_id));
  return hints.map((h) => h.volumeId).filter((id) => !kept.has(id.toLowerCase()));
}

/** A hint taken for a lookup. */
export interface ClaimedHint {
  volumeId: string;
  /** Its version: settling it only removes it when no event changed it since. */
  version: number;
  triggers: PendingTrigger[];
  attempts: number;
  /** The time of the latest event the hint holds. */
  eventAt: Date;
}

/**
 * Takes up to `limit` due hints, oldest first, and pushes their due time `leaseSeconds`
 * ahead so no other controller looks the same volumes up meanwhile.
 */
export async function claimDueHints(
  q: Queryable,
  limit: number,
  leaseSeconds: number,
): Promise<ClaimedHint[]> {
  const res = await q.query<{
    volume_id: string;
    version: number;
    triggers: PendingTrigger[];
    attempts: number;
    event_at: Date;
  }>(
    `UPDATE volume_hints h SET next_try_at = now() + make_interval(secs => $2),
            attempts = h.attempts + 1
      WHERE h.volume_id IN (SELECT volume_id FROM volume_hints WHERE next_try_at <= now()
                             ORDER BY next_try_at LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING h.volume_id::text AS volume_id, h.version, h.triggers, h.attempts, h.event_at`,
    [limit, leaseSeconds],
  );
  return res.rows.map((r) => ({
    volumeId: r.volume_id,
    version: r.version,
    triggers: r.triggers,
    attempts: r.attempts,
    eventAt: r.event_at,
  }));
}

/**
 * Reads the claims of hints and locks them until the caller's transaction ends, in id order
 * (as the notification batches write them), so a settling round and a batch never deadlock.
 */
export async function lockHintClaims(
  q: Queryable,
  volumeIds: readonly string[],
): Promise<Map<string, Record<string, unknown>>> {
  if (volumeIds.length === 0) return new Map();
  const res = await q.query<{ volume_id: string; claims: Record<string, unknown> }>(
    `SELECT volume_id::text AS volume_id, claims FROM volume_hints
      WHERE volume_id = ANY($1::uuid[]) ORDER BY volume_id FOR UPDATE`,
    [volumeIds],
  );
  return new Map(res.rows.map((r) => [r.volume_id, r.claims]));
}

/**
 * Removes a settled hint, unless an event changed it after it was claimed: then it is due
 * again at once (its new claim needs a lookup made after it). True when removed.
 */
export async function settleHint(q: Queryable, h: ClaimedHint): Promise<boolean> {
  const removed = await settleHints(q, [h]);
  return removed.has(h.volumeId.toLowerCase());
}

/**
 * settleHint for many hints in two statements; the ids (lower case) of the hints removed.
 * The others (changed by an event since they were claimed) are due again at once.
 */
export async function settleHints(
  q: Queryable,
  hints: readonly ClaimedHint[],
): Promise<Set<string>> {
  if (hints.length === 0) return new Set();
  const res = await q.query<{ volume_id: string }>(
    `DELETE FROM volume_hints h USING unnest($1::uuid[], $2::integer[]) AS u(id, version)
      WHERE h.volume_id = u.id AND h.version = u.version
      RETURNING h.volume_id::text AS volume_id`,
    [hints.map((h) => h.volumeId), hints.map((h) => h.version)],
  );
  const removed = new Set(res.rows.map((r) => r.volume_id));
  const changed = hints.map((h) => h.volumeId).filter((id) => !removed.has(id.toLowerCase()));
  if (changed.length > 0) {
    await q.query(
      `UPDATE volume_hints SET next_try_at = now(), attempts = 0
        WHERE volume_id = ANY($1::uuid[])`,
      [changed],
    );
  }
  return removed;
}

/**
 * Hands claimed hints back before their lease ends (the round that took them could not
 * write its answers): due again after `seconds`.
 */
export async function releaseHints(
  q: Queryable,
  volumeIds: readonly string[],
  seconds: number,
  error: string,
): Promise<void> {
  if (volumeIds.length === 0) return;
  await q.query(
    `UPDATE volume_hints SET next_try_at = now() + make_interval(secs => $2), last_error = $3
      WHERE volume_id = ANY($1::uuid[])`,
    [volumeIds, seconds, error.slice(0, 500)],
  );
}

/** Keeps a hint whose lookup failed; due again after `seconds`. */
export async function postponeHint(
  q: Queryable,
  volumeId: string,
  seconds: number,
  error: string,
): Promise<void> {
  await q.query(
    `UPDATE volume_hints SET next_try_at = now() + make_interval(secs => $2), last_error = $3
      WHERE volume_id = $1`,
    [volumeId, seconds, error.slice(0, 500)],
  );
}

/** How many hints of volumes the inventory does not hold wait (for the bound and tests). */
export async function countUnknownHints(q: Queryable): Promise<number> {
  const res = await q.query<{ n: string }>(
    `SELECT count(*) AS n FROM volume_hints h
      WHERE NOT EXISTS (SELECT 1 FROM volumes v WHERE v.id = h.volume_id)`,
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** How many hints wait (for metrics and tests). */
export async function countVolumeHints(q: Queryable): Promise<number> {
  const res = await q.query<{ n: string }>('SELECT count(*) AS n FROM volume_hints');
  return Number(res.rows[0]?.n ?? 0);
}
