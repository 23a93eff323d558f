/**
 * The changes of one volume's notifications in a batch, folded in delivery order into the
 * row they leave behind (pure). Each step gets the outcome it would have had applied alone
 * (apply-change.ts, one transaction per message): the same freshness rule (an event at or
 * before the row's `seen_at` is stale), the same clamping of event times to the clock, the
 * same effect of a Cinder refetch. The batch then writes only the final row, once.
 */
import { backendHostOf, type InventoryVolume } from '../db/volumes.js';
import type { VolumeRecord } from '../db/volume-batch.js';
import { parsePolicy, type PolicyLimits } from '../policy/policy.js';
import type { ApplyOutcome } from './apply-change.js';
import type { InventoryChange } from './inventory-change.js';

/** A change that names a volume (everything but `ignored`). */
export type VolumeChange = Exclude<InventoryChange, { kind: 'ignored' }>;

export interface FoldStep {
  change: VolumeChange;
  /** Cinder's answer when the change asked for a refetch (undefined: not asked or failed). */
  fetched?: InventoryVolume | null;
}

export interface FoldResult {
  /** The row after every step; null when there was none and none was made. */
  row: VolumeRecord | null;
  /** Whether any step changed the row (it must be written). */
  changed: boolean;
  /** One outcome per step, in order. */
  outcomes: ApplyOutcome[];
}

function clamp(at: Date, now: Date): Date {
  return at.getTime() > now.getTime() ? now : at;
}

function later(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

function withPolicy(row: VolumeRecord, limits: PolicyLimits): VolumeRecord {
  const p = parsePolicy(row.metadata, limits);
  return {
    ...row,
    policy: p.kind === 'policy' ? (p.policy as unknown as Record<string, unknown>) : null,
    policyError: p.kind === 'error' ? p.message : null,
  };
}

function fromApi(v: InventoryVolume, at: Date, row: VolumeRecord | null): VolumeRecord {
  return {
    id: v.id,
    name: v.name,
    projectId: v.projectId,
    status: v.status,
    sizeGb: v.sizeGb,
    host: v.host,
    backendHost: v.backendHost,
    lvName: v.lvName,
    metadata: v.metadata,
    attachments: v.attachments,
    bootable: v.bootable,
    volumeType: v.volumeType,
    cinderUpdatedAt: v.cinderUpdatedAt,
    seenAt: row === null ? at : later(row.seenAt, at),
    deletedAt: null,
    policy: row?.policy ?? null,
    policyError: row?.policyError ?? null,
  };
}

function fromEvent(
  c: Extract<VolumeChange, { kind: 'volume-state' }>,
  at: Date,
  row: VolumeRecord | null,
): VolumeRecord {
  const s = c.state;
  return {
    id: s.volumeId,
    name: s.name,
    projectId: s.projectId,
    status: s.status,
    sizeGb: s.sizeGb,
    host: s.host,
    backendHost: backendHostOf(s.host),
    // A new row is named from the id until the API shows a name_id.
    lvName: row?.lvName ?? `volume-${s.volumeId}`,
    metadata: s.metadata,
    attachments: s.attachments,
    bootable: row?.bootable ?? false,
    // Payloads carry the type's id; it replaces the API's name only on a retype.
    volumeType: row === null || c.typeChanged ? s.volumeTypeId : row.volumeType,
    cinderUpdatedAt: row?.cinderUpdatedAt ?? null,
    seenAt: row === null ? at : later(row.seenAt, at),
    // volume.exists audits report volumes deleted during the period as 'deleted'.
    deletedAt: s.status === 'deleted' ? at : null,
    policy: row?.policy ?? null,
    policyError: row?.policyError ?? null,
  };
}

/** Folds `steps` (one volume, delivery order) over `current`. */
export function foldChanges(
  current: VolumeRecord | null,
  steps: readonly FoldStep[],
  now: Date,
  limits: PolicyLimits,
): FoldResult {
  let row = current;
  let changed = false;
  let repolicy = false;
  const outcomes: ApplyOutcome[] = [];
  for (const { change: c, fetched } of steps) {
    if (c.kind === 'snapshot') {
      outcomes.push('ignored');
      continue;
    }
    const fresh = row === null || row.seenAt.getTime() < c.eventAt.getTime();
    const at = clamp(c.eventAt, now);
    if (c.kind === 'volume-deleted' || (c.kind === 'volume-state' && fetched === null)) {
      // Cinder says it is gone (the event, or 404 on the refetch).
      if (row === null) outcomes.push('unknown-volume');
      else if (!fresh) outcomes.push('stale');
      else {
        row = { ...row, status: 'deleted', deletedAt: at, seenAt: later(row.seenAt, at) };
        changed = true;
        outcomes.push('applied');
      }
      continue;
    }
    if (c.kind === 'volume-status') {
      if (row === null) outcomes.push('unknown-volume');
      else if (!fresh) outcomes.push('stale');
      else {
        row = { ...row, status: c.status, seenAt: later(row.seenAt, at) };
        changed = true;
        outcomes.push('applied');
      }
      continue;
    }
    if (fetched !== undefined && fetched !== null) {
      row = fromApi(fetched, now, row);
    } else if (fresh) {
      row = fromEvent(c, at, row);
    } else {
      outcomes.push('stale');
      continue;
    }
    changed = true;
    repolicy = true;
    outcomes.push('applied');
  }
  if (row !== null && repolicy) row = withPolicy(row, limits);
  return { row, changed, outcomes };
}
