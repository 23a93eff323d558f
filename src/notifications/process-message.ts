/**
 * One AMQP message, start to finish, minus the AMQP: decode, work out the change, ask Cinder
 * when the payload is not enough, apply in one transaction. The answer tells the consumer
 * what to do with the delivery: ack (committed, or nothing to do), dead-letter (it can never
 * be applied: the reason travels with it), or retry (the database or Cinder is unavailable:
 * requeue and try again later).
 */
import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { withTransaction } from '../db/pool.js';
import type { InventoryVolume } from '../db/volumes.js';
import { isRetryable, toAppError } from '../errors.js';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { enqueueEventBackup } from '../jobs/enqueue-backup.js';
import type { PolicyLimits } from '../policy/policy.js';
import { NO_PROJECT_QUOTA, type ProjectQuota } from '../policy/project-quota.js';
import { applyChange, type ApplyOutcome } from './apply-change.js';
import { inventoryChangeOf, type InventoryChange } from './inventory-change.js';
import { decodeNotification, type OsloNotification } from './oslo-envelope.js';

/** What a message did: its inventory outcome and the backup it triggered, if any. */
export interface MessageResult {
  outcome: ApplyOutcome;
  volumeId: string | null;
  /** The job an event listed in `backup:on` enqueued. */
  jobId: number | null;
  /** Why the event's trigger enqueued no backup (policy, state, minimum interval...). */
  triggerSkipped: string | null;
  /** Why the message was acknowledged without a change (outcome `ignored`), for the log. */
  ignoredReason: string | null;
}

export type Disposition =
  | { action: 'ack'; notification: OsloNotification; result: MessageResult }
  | { action: 'dead-letter'; reason: string; notification: OsloNotification | null }
  | { action: 'retry'; reason: string; notification: OsloNotification | null };

export interface ProcessOptions {
  pool: pg.Pool;
  limits: PolicyLimits;
  lookup?: VolumeLookup;
  maxBodyBytes?: number;
  /** Events older than this do not trigger backups (a replay after an outage). */
  triggerMaxAgeSeconds?: number;
  /** The scheduler's wait after a failed backup; event triggers obey it too (default 1 h). */
  retryAfterSeconds?: number;
  /** The operator's per-project byte quota, which event triggers obey too (default: none). */
  quota?: ProjectQuota;
  now?: () => Date;
  /** What the bus is trusted with (default: no broker user, 300 s of skew). */
  trust?: Partial<BusTrust>;
}

/** What a message must show before it is believed at all. */
export interface BusTrust {
  /**
   * RabbitMQ users Cinder publishes as. A real Cinder sets no AMQP `user_id`; when a
   * message carries one, RabbitMQ has checked it is the publisher's login, so a message
   * whose `user_id` is set and not listed here came from another service: it is refused.
   */
  cinderBrokerUsers: readonly string[];
  /** Event timestamps further than this into the future are refused (clock skew allowed). */
  maxFutureSkewSeconds: number;
}

export const DEFAULT_BUS_TRUST: BusTrust = { cinderBrokerUsers: [], maxFutureSkewSeconds: 300 };

/** AMQP properties of a delivery that the decision looks at. */
export interface DeliveryMeta {
  /** The `user_id` property: set by the publisher, checked by RabbitMQ against its login. */
  userId: string | null;
}

/** Why the bus is not believed for this message, or null. Pure. */
export function untrustedReason(
  meta: DeliveryMeta,
  eventAt: Date | null,
  now: Date,
  trust: BusTrust,
): string | null {
  if (meta.userId !== null && !trust.cinderBrokerUsers.includes(meta.userId)) {
    const shown = meta.userId.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
    return `refused: published by broker user "${shown}", which is not a configured Cinder broker user`;
  }
  if (eventAt !== null && eventAt.getTime() > now.getTime() + trust.maxFutureSkewSeconds * 1000) {
    return `refused: timestamp ${eventAt.toISOString()} is more than ${trust.maxFutureSkewSeconds} s in the future`;
  }
  return null;
}

/** A message that passed decoding and the trust checks, with the change it makes. */
export interface PreparedMessage {
  notification: OsloNotification;
  change: InventoryChange;
}

/**
 * Decodes a body and works out its change, or the dead-letter disposition that refuses it
 * (untrusted publisher, undecodable, a payload that cannot be applied). No I/O.
 */
export function prepareMessage(
  body: Buffer,
  options: Pick<ProcessOptions, 'maxBodyBytes' | 'now' | 'trust'>,
  meta: DeliveryMeta,
): PreparedMessage | Extract<Disposition, { action: 'dead-letter' }> {
  const trust = { ...DEFAULT_BUS_TRUST, ...options.trust };
  const clock = options.now ?? (() => new Date());
  // Checked before the body is even decoded: a forged message changes nothing at all.
  const byUser = untrustedReason(meta, null, clock(), trust);
  if (byUser !== null) return { action: 'dead-letter', reason: byUser, notification: null };
  const decoded = decodeNotification(body, { maxBytes: options.maxBodyBytes });
  if (!decoded.ok) return { action: 'dead-letter', reason: decoded.reason, notification: null };
  const notification = decoded.notification;
  const future = untrustedReason(meta, notification.timestamp, clock(), trust);
  if (future !== null) return { action: 'dead-letter', reason: future, notification };
  const changed = inventoryChangeOf(notification);
  if (!changed.ok) return { action: 'dead-letter', reason: changed.reason, notification };
  return { notification, change: changed.change };
}

/** Decides and, when it can, commits the effect of one message body. */
export async function processMessage(
  body: Buffer,
  options: ProcessOptions,
  meta: DeliveryMeta = { userId: null },
): Promise<Disposition> {
  const clock = options.now ?? (() => new Date());
  const prepared = prepareMessage(body, options, meta);
  if ('action' in prepared) return prepared;
  const { notification, change } = prepared;

  let fetched: InventoryVolume | null | undefined;
  if (change.kind === 'volume-state' && change.refetch && options.lookup !== undefined) {
    try {
      fetched = await options.lookup(change.volumeId);
    } catch (err) {
      if (isRetryable(err)) {
        return {
          action: 'retry',
          reason: `Cinder lookup failed: ${(err as Error).message}`,
          notification,
        };
      }
      // A permanent API error (403, a malformed answer): the payload is still good enough.
      fetched = undefined;
    }
  }

  const now = clock();
  try {
    const result = await withTransaction(options.pool, async (client): Promise<MessageResult> => {
      const applied = await applyChange(client, notification, change, {
        limits: options.limits,
        fetched,
        now,
      });
      return {
        ...applied,
        ...(await triggerEventBackup(client, notification, change, applied.outcome, options, now)),
        ignoredReason: change.kind === 'ignored' ? change.reason : null,
      };
    });
    return { action: 'ack', notification, result };
  } catch (err) {
    return failedDisposition(err, notification);
  }
}

/** What a transaction that threw means for its message(s): retry or dead-letter. */
export function failedDisposition(
  err: unknown,
  notification: OsloNotification | null,
): Extract<Disposition, { action: 'retry' | 'dead-letter' }> {
  // Lost connections, restarts, serialization and deadlock failures go away on a retry.
  if (isRetryable(err)) {
    const e = toAppError(err);
    const what = e.code === 'DB_CONFLICT' ? 'transaction conflict' : 'database unavailable';
    return { action: 'retry', reason: `${what} (${e.code}): ${e.message}`, notification };
  }
  const code = (err as { code?: unknown }).code;
  const pgCode = typeof code === 'string' ? ` (${code})` : '';
  return {
    action: 'dead-letter',
    reason: `database refused the change${pgCode}: ${(err as Error).message.slice(0, 150)}`,
    notification,
  };
}

/**
 * The backup a message's event triggers (`backup:on`), decided like a scheduled one with
 * the volume as the transaction `q` sees it; a duplicate triggers nothing.
 */
export async function triggerEventBackup(
  q: Queryable,
  notification: OsloNotification,
  change: InventoryChange,
  outcome: ApplyOutcome,
  options: Pick<ProcessOptions, 'limits' | 'triggerMaxAgeSeconds' | 'retryAfterSeconds' | 'quota'>,
  now: Date,
): Promise<Pick<MessageResult, 'jobId' | 'triggerSkipped'>> {
  if (change.kind !== 'volume-state' || change.trigger === null || outcome === 'duplicate') {
    return { jobId: null, triggerSkipped: null };
  }
  const triggered = await enqueueEventBackup(
    q,
    change.volumeId,
    notification.eventType,
    {
      trigger: change.trigger,
      eventAt: change.eventAt,
      maxAgeSeconds: options.triggerMaxAgeSeconds ?? 3600,
    },
    now,
    {
      limits: options.limits,
      // An interval schedule does not depend on the zone.
      timeZone: 'UTC',
      retryAfterSeconds: options.retryAfterSeconds ?? 3600,
      quota: options.quota ?? NO_PROJECT_QUOTA,
    },
  );
  return triggered.job === null
    ? { jobId: null, triggerSkipped: triggered.reason }
    : { jobId: triggered.job.id, triggerSkipped: null };
}
