/**
 * The changes of one volume's notifications in a batch, folded in delivery order into the
 * row they leave behind (pure). Each step gets the outcome it would have had applied alone
 * (apply-change.ts, one transaction per message): the same freshness rule (an event at or
 * before the row's `seen_at` is stale), the same clamping of event times to the clock, the
 * same effect of a Cinder refetch. The batch then writes only the final row, once.
 *
 * With `confirmSteering` (the controller has a Cinder lookup), notifications are hints
 * (issue 10): an event may change only what does not steer backups (name, size,
 * attachments); a claim about what does (metadata, host, project, status, deletion, a
 * volume not yet known) leaves the row as it was and becomes a hint that the Cinder API
 * must confirm (hint-confirmer.ts), and backup triggers wait for that confirmation too.
 * A refetch's answer is Cinder's own word and applies as before.
 */
import { backendHostOf, type InventoryVolume } from '../db/volumes.js';
import type { VolumeRecord } from '../db/volume-batch.js';
import { parsePolicy, type PolicyLimits } from '../policy/policy.js';
import type { PendingTrigger } from '../db/volume-hints.js';
import type { ApplyOutcome } from './apply-change.js';
import type { InventoryChange } from './inventory-change.js';

/** A change that names a volume (everything but `ignored`). */
export type VolumeChange = Exclude<InventoryChange, { kind: 'ignored' }>;

export interface FoldStep {
  change: VolumeChange;
  /** The notification's event type (recorded with a hint's triggers). */
  eventType?: string;
  /** Cinder's answer when the change asked for a refetch (undefined: not asked or failed). */
  fetched?: InventoryVolume | null;
}

/** What the bus claimed about a volume that only Cinder can confirm. */
export interface FoldHint {
  eventType: string;
  eventAt: Date;
  claims: Record<string, unknown>;
  triggers: PendingTrigger[];
  events: number;
}

export interface FoldOptions {
  now: Date;
  limits: PolicyLimits;
  /** Notifications are hints: steering changes wait for Cinder (default false). */
  confirmSteering?: boolean;
}

export interface FoldResult {
  /** The row after every step; null when there was none and none was made. */
  row: VolumeRecord | null;
  /** Claims waiting for Cinder (confirmSteering only). */
  hint: FoldHint | null;
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

function sameMetadata(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** The steering values a volume event claims, when they differ from the row's. */
function steeringClaims(
  c: Extract<VolumeChange, { kind: 'volume-state' }>,
  row: VolumeRecord,
): Record<string, unknown> | null {
  const s = c.state;
  const differs =
    row.deletedAt !== null ||
    s.status !== row.status ||
    s.host !== row.host ||
    s.projectId !== row.projectId ||
    !sameMetadata(s.metadata, row.metadata);
  return differs
    ? { status: s.status, host: s.host, project_id: s.projectId, metadata: s.metadata }
    : null;
}

/** Folds `steps` (one volume, delivery order) over `current`. */
export function foldChanges(
  current: VolumeRecord | null,
  steps: readonly FoldStep[],
  o: FoldOptions,
): FoldResult {
  const { now, limits } = o;
  let row = current;
  let changed = false;
  let repolicy = false;
  let hint: FoldHint | null = null;
  const outcomes: ApplyOutcome[] = [];
  const addHint = (
    eventType: string,
    eventAt: Date,
    claims: Record<string, unknown> | null,
    trigger: PendingTrigger | null,
  ): void => {
    const h: FoldHint = hint ?? { eventType, eventAt, claims: {}, triggers: [], events: 0 };
    if (claims !== null) {
      h.eventType = eventType;
      h.eventAt = eventAt;
      h.claims = claims;
    }
    if (trigger !== null) h.triggers.push(trigger);
    h.events += 1;
    hint = h;
  };
  for (const { change: c, fetched, eventType: type } of steps) {
    const eventType = type ?? c.kind;
    if (c.kind === 'snapshot') {
      outcomes.push('ignored');
      continue;
    }
    const fresh = row === null || row.seenAt.getTime() < c.eventAt.getTime();
    const at = clamp(c.eventAt, now);
    if (o.confirmSteering === true && fetched === undefined) {
      // The bus alone: only what does not steer backups changes here.
      if (c.kind === 'volume-state' && row !== null && fresh) {
        // A retype or manage may have moved the LV (a new name_id): only Cinder can say.
        const claims = steeringClaims(c, row) ?? (c.refetch ? { refetch: true } : null);
        row = {
          ...row,
          name: c.state.name,
          sizeGb: c.state.sizeGb,
          attachments: c.state.attachments,
          seenAt: later(row.seenAt, at),
        };
        changed = true;
        // A trigger waits for Cinder only when it could start a backup: the row's
        // (confirmed) metadata lists it, or the event also claims new metadata (which might).
        const confirmed = c.trigger === null ? null : parsePolicy(row.metadata, limits);
        const trigger =
          c.trigger !== null &&
          (claims !== null ||
            (confirmed?.kind === 'policy' && confirmed.policy.onEvents.includes(c.trigger)))
            ? { trigger: c.trigger, eventType, eventAt: c.eventAt.toISOString() }
            : null;
        if (claims === null && trigger === null) {
          outcomes.push('applied');
        } else {
          addHint(eventType, c.eventAt, claims, trigger);
          outcomes.push('hinted');
        }
        continue;
      }
      if (row !== null && !fresh) {
        outcomes.push('stale');
        continue;
      }
      if (c.kind === 'volume-status' && row !== null && row.status === c.status) {
        outcomes.push('applied');
        continue;
      }
      // A volume not known yet, a deletion, a status: all for Cinder to confirm.
      addHint(
        eventType,
        c.eventAt,
        c.kind === 'volume-deleted'
          ? { gone: true }
          : c.kind === 'volume-status'
            ? { status: c.status }
            : {
                status: c.state.status,
                host: c.state.host,
                project_id: c.state.projectId,
                metadata: c.state.metadata,
              },
        // A trigger of a volume the inventory does not hold yet (its creation still waits
        // for Cinder) waits with it: the confirmer decides it on the volume Cinder shows.
        // Dropping it lost detach-triggered backups whenever events outran confirmations.
        c.kind === 'volume-state' && c.trigger !== null
          ? { trigger: c.trigger, eventType, eventAt: c.eventAt.toISOString() }
          : null,
      );
      outcomes.push('hinted');
      continue;
    }
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
  return { row, hint, changed, outcomes };
}
