/**
 * Writes one notification's inventory change inside a transaction the caller holds: the
 * message id is recorded first (a redelivered message stops there), the volume row is
 * updated only when the event is newer than what the row already reflects, and the policy
 * is recomputed from the new metadata. Whether the event also triggers a backup is the
 * next step, decided like a scheduled backup (src/jobs/enqueue-backup.ts).
 *
 * Ordering: `seen_at` holds the time of the newest view applied (a poll or an event); an
 * event at or before it is stale and changes no state. The durable queue can replay old
 * events after a controller outage; the poller's view wins when they disagree
 * (openstack-wire.md G).
 */
import { claimNotification, recordNotificationOutcome } from '../db/processed-notifications.js';
import type { Queryable } from '../db/queryable.js';
import {
  lockVolume,
  markVolumeDeleted,
  recordPolicy,
  setVolumeStatus,
  upsertVolumeFromApi,
  upsertVolumeFromEvent,
  type InventoryVolume,
} from '../db/volumes.js';
import { parsePolicy, type PolicyLimits } from '../policy/policy.js';
import type { InventoryChange } from './inventory-change.js';
import type { OsloNotification } from './oslo-envelope.js';

/**
 * What a message did. `hinted`: it claimed a change of what steers backups (or asked for a
 * backup), which waits for the Cinder API to confirm it (volume_hints); whatever else it
 * said was applied.
 */
export type ApplyOutcome =
  'applied' | 'stale' | 'ignored' | 'unknown-volume' | 'duplicate' | 'hinted';

export interface ApplyResult {
  outcome: ApplyOutcome;
  volumeId: string | null;
}

export interface ApplyOptions {
  limits: PolicyLimits;
  /** Cinder's answer for the volume when the change asked for a refetch (undefined: not asked). */
  fetched?: InventoryVolume | null;
  now: Date;
}

function volumeIdOf(change: InventoryChange): string | null {
  return change.kind === 'ignored' ? null : change.volumeId;
}

/**
 * Applies `change` (from notification `n`) with `q`, which must be inside a transaction.
 * Throws on database errors; the caller rolls back and retries or dead-letters.
 */
export async function applyChange(
  q: Queryable,
  n: OsloNotification,
  change: InventoryChange,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const volumeId = volumeIdOf(change);
  const claimed = await claimNotification(q, {
    messageId: n.messageId,
    eventType: n.eventType,
    volumeId,
    eventAt: n.timestamp,
  });
  if (!claimed) return { outcome: 'duplicate', volumeId };
  const outcome = await applyToVolume(q, change, options);
  await recordNotificationOutcome(q, n.messageId, outcome);
  return { outcome, volumeId };
}

async function applyToVolume(
  q: Queryable,
  change: InventoryChange,
  options: ApplyOptions,
): Promise<ApplyOutcome> {
  if (change.kind === 'ignored' || change.kind === 'snapshot') return 'ignored';
  const id = change.volumeId;
  const row = await lockVolume(q, id);
  const fresh = row === null || row.seenAt.getTime() < change.eventAt.getTime();

  if (
    change.kind === 'volume-deleted' ||
    (change.kind === 'volume-state' && options.fetched === null)
  ) {
    // Cinder says it is gone (event, or 404 on the refetch).
    if (row === null) return 'unknown-volume';
    if (!fresh) return 'stale';
    await markVolumeDeleted(q, id, change.eventAt);
    return 'applied';
  }
  if (change.kind === 'volume-status') {
    if (row === null) return 'unknown-volume';
    if (!fresh) return 'stale';
    await setVolumeStatus(q, id, change.status, change.eventAt);
    return 'applied';
  }

  if (options.fetched !== undefined && options.fetched !== null) {
    await upsertVolumeFromApi(q, options.fetched, options.now);
  } else if (fresh) {
    // A poll's uncommitted insert is invisible to lockVolume: the write itself tells.
    if (!(await upsertVolumeFromEvent(q, change.state, change.eventAt, change.typeChanged))) {
      return 'stale';
    }
  } else {
    return 'stale';
  }
  const current = await lockVolume(q, id);
  if (current !== null) await recordPolicy(q, id, parsePolicy(current.metadata, options.limits));
  return 'applied';
}
