/**
 * One AMQP message, start to finish, minus the AMQP: decode, work out the change, ask Cinder
 * when the payload is not enough, apply in one transaction. The answer tells the consumer
 * what to do with the delivery: ack (committed, or nothing to do), dead-letter (it can never
 * be applied: the reason travels with it), or retry (the database or Cinder is unavailable:
 * requeue and try again later).
 */
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import { isRetryable, toAppError } from '../errors.js';
import type { PolicyLimits } from '../policy/policy.js';
import { applyChange, type ApplyResult } from './apply-change.js';
import { inventoryChangeOf } from './inventory-change.js';
import { decodeNotification, type OsloNotification } from './oslo-envelope.js';
import type { FetchedVolume, VolumeLookup } from './volume-lookup.js';

export type Disposition =
  | { action: 'ack'; notification: OsloNotification; result: ApplyResult }
  | { action: 'dead-letter'; reason: string; notification: OsloNotification | null }
  | { action: 'retry'; reason: string; notification: OsloNotification | null };

export interface ProcessOptions {
  pool: pg.Pool;
  limits: PolicyLimits;
  lookup?: VolumeLookup;
  maxBodyBytes?: number;
  triggerMaxAgeSeconds?: number;
  now?: () => Date;
}

/** Decides and, when it can, commits the effect of one message body. */
export async function processMessage(body: Buffer, options: ProcessOptions): Promise<Disposition> {
  const decoded = decodeNotification(body, { maxBytes: options.maxBodyBytes });
  if (!decoded.ok) return { action: 'dead-letter', reason: decoded.reason, notification: null };
  const notification = decoded.notification;
  const changed = inventoryChangeOf(notification);
  if (!changed.ok) return { action: 'dead-letter', reason: changed.reason, notification };
  const change = changed.change;

  let fetched: FetchedVolume | null | undefined;
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

  const now = options.now ?? (() => new Date());
  try {
    const result = await withTransaction(options.pool, (client) =>
      applyChange(client, notification, change, {
        limits: options.limits,
        fetched,
        triggerMaxAgeSeconds: options.triggerMaxAgeSeconds ?? 3600,
        now: now(),
      }),
    );
    return { action: 'ack', notification, result };
  } catch (err) {
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
}
