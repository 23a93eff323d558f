/**
 * Applies one notification's inventory change inside a transaction the caller holds:
 * the message id is recorded first (a redelivered message stops there), the volume row is
 * updated only when the event is newer than what the row already reflects, the policy is
 * recomputed from the new metadata, and a `backup:on` event enqueues a job. The caller
 * commits, then acknowledges the message.
 *
 * Ordering: `seen_at` holds the time of the newest view applied (a poll or an event); an
 * event at or before it is stale and changes no state. The durable queue can replay old
 * events after a controller outage; the poller's view wins when they disagree
 * (openstack-wire.md G).
 */
import type { Queryable } from '../db/queryable.js';
import { backendHostOf } from '../db/volumes.js';
import { enqueueJob } from '../jobs/queue.js';
import { recordPolicy } from '../jobs/scheduler-queries.js';
import { backupBlockedReason } from '../policy/backup-eligibility.js';
import { parsePolicy, type PolicyLimits } from '../policy/policy.js';
import type { InventoryChange } from './inventory-change.js';
import type { OsloNotification } from './oslo-envelope.js';
import type { FetchedVolume } from './volume-lookup.js';

export type ApplyOutcome = 'applied' | 'stale' | 'ignored' | 'unknown-volume' | 'duplicate';

export interface ApplyResult {
  outcome: ApplyOutcome;
  volumeId: string | null;
  /** The job a `backup:on` event enqueued, if any. */
  jobId: number | null;
}

export interface ApplyOptions {
  limits: PolicyLimits;
  /** Cinder's answer for the volume when the change asked for a refetch (undefined: not asked). */
  fetched?: FetchedVolume | null;
  /** Events older than this do not trigger backups (a replay after an outage). */
  triggerMaxAgeSeconds: number;
  now: Date;
}

interface RowState {
  seen_at: Date;
  deleted_at: Date | null;
  status: string;
  backend_host: string | null;
  lv_name: string;
  metadata: Record<string, unknown>;
}

function volumeIdOf(change: InventoryChange): string | null {
  return change.kind === 'ignored' ? null : change.volumeId;
}

async function claimMessage(
  q: Queryable,
  n: OsloNotification,
  volumeId: string | null,
): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO processed_notifications (message_id, event_type, volume_id, outcome, event_at)
     VALUES ($1, $2, $3, 'pending', $4)
     ON CONFLICT (message_id) DO NOTHING RETURNING message_id`,
    [n.messageId, n.eventType, volumeId, n.timestamp],
  );
  return res.rowCount === 1;
}

async function lockVolume(q: Queryable, id: string): Promise<RowState | null> {
  const res = await q.query<RowState>(
    `SELECT seen_at, deleted_at, status, backend_host, lv_name, metadata
       FROM volumes WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return res.rows[0] ?? null;
}

async function upsertFromPayload(
  q: Queryable,
  change: Extract<InventoryChange, { kind: 'volume-state' }>,
): Promise<void> {
  const s = change.state;
  await q.query(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          metadata, attachments, volume_type, seen_at, deleted_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12,
             -- volume.exists audits report volumes deleted during the period as 'deleted'.
             CASE WHEN $4 = 'deleted' THEN $12::timestamptz END)
     ON CONFLICT (id) DO UPDATE SET
       name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
       size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
       metadata = EXCLUDED.metadata, attachments = EXCLUDED.attachments,
       -- Payloads carry the type id, the API its name: only a retype replaces it.
       volume_type = CASE WHEN $13 THEN EXCLUDED.volume_type ELSE volumes.volume_type END,
       seen_at = GREATEST(volumes.seen_at, EXCLUDED.seen_at), deleted_at = EXCLUDED.deleted_at`,
    [
      s.volumeId,
      s.name,
      s.projectId,
      s.status,
      s.sizeGb,
      s.host,
      backendHostOf(s.host),
      // New rows: the LV is named from the id until the API shows a name_id.
      `volume-${s.volumeId}`,
      JSON.stringify(s.metadata),
      JSON.stringify(s.attachments),
      s.volumeTypeId,
      change.eventAt,
      change.typeChanged,
    ],
  );
}

async function upsertFromApi(q: Queryable, v: FetchedVolume, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          metadata, attachments, bootable, volume_type, cinder_updated_at,
                          seen_at, deleted_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $14, NULL)
     ON CONFLICT (id) DO UPDATE SET
       name = EXCLUDED.name, project_id = EXCLUDED.project_id, status = EXCLUDED.status,
       size_gb = EXCLUDED.size_gb, host = EXCLUDED.host, backend_host = EXCLUDED.backend_host,
       lv_name = EXCLUDED.lv_name, metadata = EXCLUDED.metadata,
       attachments = EXCLUDED.attachments, bootable = EXCLUDED.bootable,
       volume_type = EXCLUDED.volume_type, cinder_updated_at = EXCLUDED.cinder_updated_at,
       seen_at = GREATEST(volumes.seen_at, EXCLUDED.seen_at), deleted_at = NULL`,
    [
      v.id,
      v.name,
      v.projectId,
      v.status,
      v.sizeGb,
      v.host,
      v.backendHost,
      v.lvName,
      JSON.stringify(v.metadata),
      JSON.stringify(v.attachments),
      v.bootable,
      v.volumeType,
      v.cinderUpdatedAt,
      at,
    ],
  );
}

async function markDeleted(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query(
    `UPDATE volumes SET status = 'deleted', deleted_at = $2, seen_at = GREATEST(seen_at, $2)
      WHERE id = $1`,
    [id, at],
  );
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
  if (!(await claimMessage(q, n, volumeId))) return { outcome: 'duplicate', volumeId, jobId: null };
  const result = await applyToVolume(q, n, change, options);
  await q.query(`UPDATE processed_notifications SET outcome = $2 WHERE message_id = $1`, [
    n.messageId,
    result.outcome,
  ]);
  return result;
}

async function applyToVolume(
  q: Queryable,
  n: OsloNotification,
  change: InventoryChange,
  options: ApplyOptions,
): Promise<ApplyResult> {
  if (change.kind === 'ignored' || change.kind === 'snapshot') {
    return { outcome: 'ignored', volumeId: volumeIdOf(change), jobId: null };
  }
  const id = change.volumeId;
  const row = await lockVolume(q, id);
  const fresh = row === null || row.seen_at.getTime() < change.eventAt.getTime();

  if (
    change.kind === 'volume-deleted' ||
    (change.kind === 'volume-state' && options.fetched === null)
  ) {
    // Cinder says it is gone (event, or 404 on the refetch).
    if (row === null) return { outcome: 'unknown-volume', volumeId: id, jobId: null };
    if (!fresh) return { outcome: 'stale', volumeId: id, jobId: null };
    await markDeleted(q, id, change.eventAt);
    return { outcome: 'applied', volumeId: id, jobId: null };
  }
  if (change.kind === 'volume-status') {
    if (row === null) return { outcome: 'unknown-volume', volumeId: id, jobId: null };
    if (!fresh) return { outcome: 'stale', volumeId: id, jobId: null };
    await q.query(`UPDATE volumes SET status = $2, seen_at = GREATEST(seen_at, $3) WHERE id = $1`, [
      id,
      change.status,
      change.eventAt,
    ]);
    return { outcome: 'applied', volumeId: id, jobId: null };
  }

  let outcome: ApplyOutcome = 'stale';
  if (options.fetched !== undefined && options.fetched !== null) {
    await upsertFromApi(q, options.fetched, options.now);
    outcome = 'applied';
  } else if (fresh) {
    await upsertFromPayload(q, change);
    outcome = 'applied';
  }
  const current = await lockVolume(q, id);
  if (current === null) return { outcome, volumeId: id, jobId: null };
  const policy = parsePolicy(current.metadata, options.limits);
  if (outcome === 'applied') await recordPolicy(q, id, policy);

  let jobId: number | null = null;
  const ageSeconds = (options.now.getTime() - change.eventAt.getTime()) / 1000;
  if (
    change.trigger !== null &&
    policy.kind === 'policy' &&
    policy.policy.onEvents.includes(change.trigger) &&
    ageSeconds <= options.triggerMaxAgeSeconds &&
    backupBlockedReason({
      status: current.status,
      backendHost: current.backend_host,
      deletedAt: current.deleted_at,
    }) === null
  ) {
    const job = await enqueueJob(q, {
      kind: 'backup',
      volumeId: id,
      backendHost: current.backend_host as string,
      lvName: current.lv_name,
      reason: `event:${n.eventType}`,
    });
    jobId = job?.id ?? null;
  }
  return { outcome, volumeId: id, jobId };
}
