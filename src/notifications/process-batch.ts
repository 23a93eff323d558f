/**
 * A batch of AMQP messages in one transaction: what makes ingestion keep up with the bus.
 * One message per transaction costs a commit (a WAL flush) and about eight round trips per
 * event; a batch costs four statements and one commit for all of its events.
 *
 * - decoding, the trust checks and the change are worked out per message first; refused
 *   messages are dead-lettered without touching the database;
 * - refetches from Cinder (retype, manage) run before the transaction, a few at a time
 *   (with hints they become hints instead);
 * - in the transaction: the ledger is asked which ids it already holds (redeliveries, and
 *   an id repeated inside the batch counts once), the rows of every volume named are read
 *   and locked in id order, each volume's changes are folded in delivery order
 *   (fold-changes.ts) and the final rows written in one statement, the ledger rows with
 *   their outcomes in another; then the backups that events trigger;
 * - a batch the database refuses for a reason a retry cannot cure (a poison message) is
 *   processed again one message per transaction (through this same path, so a poison
 *   cannot make its neighbours skip a check), so only the poison is dead-lettered; a
 *   batch that fails for a retryable reason (database gone, a lost race) is retried whole.
 * The dispositions come back in the order of the messages.
 */
import { withTransaction } from '../db/pool.js';
import { knownNotificationIds, recordNotifications } from '../db/processed-notifications.js';
import { lockVolumeRecords, writeVolumeRecords, type VolumeRecord } from '../db/volume-batch.js';
import { recordVolumeHints, type VolumeHint } from '../db/volume-hints.js';
import type { InventoryVolume } from '../db/volumes.js';
import { AppError, isRetryable } from '../errors.js';
import { lockQuotasForBackups } from '../jobs/enqueue-backup.js';
import { parsePolicy } from '../policy/policy.js';
import { NO_PROJECT_QUOTA } from '../policy/project-quota.js';
import type { ApplyOutcome } from './apply-change.js';
import { foldChanges, type FoldStep, type VolumeChange } from './fold-changes.js';
import type { InventoryChange } from './inventory-change.js';
import type { OsloNotification } from './oslo-envelope.js';
import {
  failedDisposition,
  prepareMessage,
  triggerEventBackup,
  type DeliveryMeta,
  type Disposition,
  type MessageResult,
  type ProcessOptions,
} from './process-message.js';

/** One delivery of a batch. */
export interface BatchItem {
  body: Buffer;
  meta: DeliveryMeta;
}

export interface BatchOptions extends ProcessOptions {
  /** Cinder refetches in flight at once (default 4). */
  lookupConcurrency?: number;
  /**
   * Notifications are hints (fold-changes.ts): changes of what steers backups, and backup
   * triggers, wait in volume_hints for the Cinder API to confirm them. The controller sets
   * it when it has a Cinder lookup.
   */
  confirmSteering?: boolean;
  /** How long a new hint waits before its lookup, so a burst of events needs one (default 2 s). */
  hintDelayMs?: number;
  /** Most waiting hints of volumes the inventory does not hold (volume-hints.ts); none: unbounded. */
  maxUnknownHints?: number;
  /** Told the volume ids whose new hints the bound dropped. */
  onHintsDropped?: (volumeIds: string[]) => void;
}

interface Ready {
  index: number;
  notification: OsloNotification;
  change: InventoryChange;
  fetched: InventoryVolume | null | undefined;
}

/** Runs `fn` over `items` with at most `limit` promises pending. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function volumeIdOf(change: InventoryChange): string | null {
  return change.kind === 'ignored' ? null : change.volumeId;
}

/** Decides and commits the effect of a batch of message bodies; one disposition each. */
export async function processBatch(
  items: readonly BatchItem[],
  options: BatchOptions,
): Promise<Disposition[]> {
  const clock = options.now ?? (() => new Date());
  const out = new Array<Disposition | undefined>(items.length);
  const ready: Ready[] = [];
  items.forEach((item, index) => {
    const p = prepareMessage(item.body, options, item.meta);
    if ('action' in p) out[index] = p;
    else ready.push({ index, notification: p.notification, change: p.change, fetched: undefined });
  });

  // With hints, a refetch is one more claim for the hint confirmer: the batch never waits
  // for Cinder (under load one read per batch held each batch for tens of milliseconds).
  const lookup = options.confirmSteering === true ? undefined : options.lookup;
  if (lookup !== undefined) {
    const refetch = ready.filter((r) => r.change.kind === 'volume-state' && r.change.refetch);
    await mapLimited(refetch, options.lookupConcurrency ?? 4, async (r) => {
      try {
        r.fetched = await lookup((r.change as VolumeChange).volumeId);
      } catch (err) {
        if (isRetryable(err)) {
          out[r.index] = {
            action: 'retry',
            reason: `Cinder lookup failed: ${(err as Error).message}`,
            notification: r.notification,
          };
        }
        // A permanent API error (403, a malformed answer): the payload is still good enough.
      }
    });
  }

  const todo = ready.filter((r) => out[r.index] === undefined);
  if (todo.length > 0) {
    try {
      const results = await withTransaction(options.pool, (client) =>
        applyBatch(client, todo, options, clock()),
      );
      todo.forEach((r, i) => {
        out[r.index] = {
          action: 'ack',
          notification: r.notification,
          result: results[i] as MessageResult,
        };
      });
    } catch (err) {
      if (isRetryable(err)) {
        for (const r of todo) out[r.index] = failedDisposition(err, r.notification);
      } else if (todo.length === 1) {
        for (const r of todo) out[r.index] = failedDisposition(err, r.notification);
      } else {
        // Something in the batch is poison: one transaction per message finds which.
        for (const r of todo) {
          const item = items[r.index] as BatchItem;
          const [d] = await processBatch([item], options);
          if (d !== undefined) out[r.index] = d;
        }
      }
    }
  }
  return out.map((d) => {
    if (d === undefined) throw new AppError('INTERNAL', 'a batch message got no disposition');
    return d;
  });
}

type Client = Parameters<Parameters<typeof withTransaction>[1]>[0];

/** The transaction of a batch; results in the order of `todo`. */
async function applyBatch(
  client: Client,
  todo: readonly Ready[],
  options: BatchOptions,
  now: Date,
): Promise<MessageResult[]> {
  const known = await knownNotificationIds(
    client,
    todo.map((r) => r.notification.messageId),
  );
  const outcomes = new Array<ApplyOutcome>(todo.length);
  const seen = new Set<string>();
  const byVolume = new Map<string, { at: number; step: FoldStep }[]>();
  todo.forEach((r, at) => {
    const id = r.notification.messageId;
    if (known.has(id) || seen.has(id)) {
      outcomes[at] = 'duplicate';
      return;
    }
    seen.add(id);
    if (r.change.kind === 'ignored') {
      outcomes[at] = 'ignored';
      return;
    }
    const steps = byVolume.get(r.change.volumeId) ?? [];
    steps.push({
      at,
      step: { change: r.change, fetched: r.fetched, eventType: r.notification.eventType },
    });
    byVolume.set(r.change.volumeId, steps);
  });

  const current = await lockVolumeRecords(client, [...byVolume.keys()].sort());
  const finalRows = new Map<string, VolumeRecord>();
  const written: VolumeRecord[] = [];
  const hints: VolumeHint[] = [];
  const dueAt = new Date(now.getTime() + (options.hintDelayMs ?? 2000));
  for (const [id, steps] of byVolume) {
    const folded = foldChanges(
      current.get(id) ?? null,
      steps.map((s) => s.step),
      { now, limits: options.limits, confirmSteering: options.confirmSteering === true },
    );
    if (folded.hint !== null) hints.push({ volumeId: id, ...folded.hint, dueAt });
    steps.forEach((s, i) => (outcomes[s.at] = folded.outcomes[i] as ApplyOutcome));
    if (folded.row !== null) finalRows.set(id, folded.row);
    if (folded.changed && folded.row !== null) written.push(folded.row);
  }
  // Rows that were absent when locked may have been inserted since by a poll whose insert
  // was not committed then: its newer view wins (an unconditional write put a row back to
  // 'creating' under the poll's seen_at, and every later event of it was stale).
  await writeVolumeRecords(
    client,
    written.filter((r) => current.has(r.id)),
  );
  await writeVolumeRecords(
    client,
    written.filter((r) => !current.has(r.id)),
    { newerOnly: true },
  );
  // In id order, as the hint confirmer locks them (hint-confirmer.ts): no deadlock between them.
  hints.sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0));
  const dropped = await recordVolumeHints(
    client,
    hints,
    options.maxUnknownHints === undefined ? {} : { maxUnknown: options.maxUnknownHints },
  );
  if (dropped.length > 0) options.onHintsDropped?.(dropped);

  const records = todo
    .map((r, at) => ({ r, outcome: outcomes[at] as ApplyOutcome }))
    .filter(({ outcome }) => outcome !== 'duplicate')
    .map(({ r, outcome }) => ({
      messageId: r.notification.messageId,
      eventType: r.notification.eventType,
      volumeId: volumeIdOf(r.change),
      eventAt: r.notification.timestamp,
      outcome,
    }));
  const inserted = await recordNotifications(client, records);
  if (inserted !== records.length) {
    // Another consumer recorded one of these ids since the ledger was read: start again.
    throw new AppError('DB_CONFLICT', 'a message of the batch was recorded concurrently');
  }

  // The rows are locked (in id order); now the quota locks of every project this batch may
  // enqueue a backup of, in one order (enqueue-backup.ts lockQuotasForBackups), not one by
  // one in the order of the messages.
  await lockQuotasForBackups(
    client,
    todo.flatMap((r, at) => {
      const c = r.change;
      if (c.kind !== 'volume-state' || c.trigger === null) return [];
      if (outcomes[at] === 'duplicate' || outcomes[at] === 'hinted') return [];
      const row = finalRows.get(c.volumeId);
      return row === undefined ? [] : [row.projectId];
    }),
    options.quota ?? NO_PROJECT_QUOTA,
  );
  const results: MessageResult[] = [];
  for (const [at, r] of todo.entries()) {
    const outcome = outcomes[at] as ApplyOutcome;
    const volumeId = volumeIdOf(r.change);
    results.push({
      outcome,
      volumeId,
      ...(await triggerFor(client, r, outcome, finalRows, options, now)),
      ignoredReason: r.change.kind === 'ignored' ? r.change.reason : null,
    });
  }
  return results;
}

/**
 * The backup an event triggers, asked of the queue only when the volume's policy lists the
 * event (most events trigger nothing, and the question costs queries); otherwise the reason
 * the decision would give. Decided with the volume as the batch leaves it.
 */
async function triggerFor(
  client: Client,
  r: Ready,
  outcome: ApplyOutcome,
  finalRows: ReadonlyMap<string, VolumeRecord>,
  options: BatchOptions,
  now: Date,
): Promise<Pick<MessageResult, 'jobId' | 'triggerSkipped'>> {
  const c = r.change;
  if (c.kind !== 'volume-state' || c.trigger === null || outcome === 'duplicate') {
    return { jobId: null, triggerSkipped: null };
  }
  if (outcome === 'hinted') {
    return { jobId: null, triggerSkipped: 'waits for the Cinder API to confirm the volume' };
  }
  const row = finalRows.get(c.volumeId);
  if (row === undefined)
    return { jobId: null, triggerSkipped: 'the volume is not in the inventory' };
  const policy = parsePolicy(row.metadata, options.limits);
  if (policy.kind !== 'policy') {
    return { jobId: null, triggerSkipped: `the volume has no backup policy (${policy.kind})` };
  }
  if (!policy.policy.onEvents.includes(c.trigger)) {
    return { jobId: null, triggerSkipped: `backup:on does not list ${c.trigger}` };
  }
  return triggerEventBackup(client, r.notification, c, outcome, options, now);
}
