/**
 * A decoded notification → the change it makes to the volume inventory (pure).
 *
 * Event types come from openstack-wire.md B.1. Volume events carry the volume's state at the
 * time of the event; `.end` events of user actions can also trigger a backup (`backup:on`).
 * Events that say nothing about volumes (types, backups, capacity) are ignored with a reason,
 * so they are acknowledged rather than dead-lettered.
 */
import type { TriggerEvent } from '../policy/trigger-events.js';
import type { OsloNotification } from './oslo-envelope.js';
import { parseVolumePayload, UUID, type VolumeState } from './volume-payload.js';

export type InventoryChange =
  | {
      kind: 'volume-state';
      volumeId: string;
      eventAt: Date;
      state: VolumeState;
      /** The `backup:on` event this notification stands for, if any. */
      trigger: TriggerEvent | null;
      /** The payload may be stale or incomplete (name_id after a migration): ask Cinder. */
      refetch: boolean;
      /** Whether the payload's volume_type (an id) should replace the stored type. */
      typeChanged: boolean;
    }
  | { kind: 'volume-deleted'; volumeId: string; eventAt: Date }
  | { kind: 'volume-status'; volumeId: string; eventAt: Date; status: string }
  | { kind: 'snapshot'; volumeId: string; snapshotId: string; eventAt: Date }
  | { kind: 'ignored'; reason: string };

export type ChangeResult = { ok: true; change: InventoryChange } | { ok: false; reason: string };

/** Volume events whose payload is the volume's current state. */
const STATE_EVENTS = new Set([
  'volume.create.start',
  'volume.create.end',
  'volume.delete.start',
  'volume.unmanage.start',
  'volume.attach.start',
  'volume.attach.end',
  'volume.detach.start',
  'volume.detach.end',
  'volume.resize.start',
  'volume.resize.end',
  'volume.retype',
  'volume.update.start',
  'volume.update.end',
  'volume.revert.start',
  'volume.revert.end',
  'volume.manage_existing.start',
  'volume.manage_existing.end',
  'volume.reset_status.start',
  'volume.reset_status.end',
  'volume.transfer.create.start',
  'volume.transfer.create.end',
  'volume.transfer.accept.start',
  'volume.transfer.accept.end',
  'volume.transfer.delete.start',
  'volume.transfer.delete.end',
  'volume.exists',
]);

/** Events after which the volume is gone from Cinder (its backups are kept). */
const GONE_EVENTS = new Set(['volume.delete.end', 'volume.unmanage.end']);

const TRIGGERS: Readonly<Record<string, TriggerEvent>> = {
  'volume.attach.end': 'attach',
  'volume.detach.end': 'detach',
  'volume.resize.end': 'resize',
  'volume.retype': 'retype',
  'volume.revert.end': 'revert',
  'volume.manage_existing.end': 'manage_existing',
  'volume.transfer.accept.end': 'transfer',
  'volume.update.end': 'update',
};

/**
 * After these the LV may have another name (a retype can migrate, giving a new name_id) or
 * the payload lacks what only the API shows: the volume is fetched from Cinder.
 */
const REFETCH_EVENTS = new Set(['volume.retype', 'volume.manage_existing.end']);

/** Works out the inventory change of a notification; a reason when it cannot be applied. */
export function inventoryChangeOf(n: OsloNotification): ChangeResult {
  const { eventType, payload, timestamp: eventAt } = n;
  if (STATE_EVENTS.has(eventType)) {
    const state = parseVolumePayload(payload);
    if (!state.ok) return { ok: false, reason: `${eventType}: ${state.reason}` };
    return {
      ok: true,
      change: {
        kind: 'volume-state',
        volumeId: state.value.volumeId,
        eventAt,
        state: state.value,
        trigger: TRIGGERS[eventType] ?? null,
        refetch: REFETCH_EVENTS.has(eventType),
        typeChanged: eventType === 'volume.retype',
      },
    };
  }
  if (GONE_EVENTS.has(eventType)) {
    const id = payload['volume_id'];
    if (typeof id !== 'string' || !UUID.test(id)) {
      return { ok: false, reason: `${eventType}: volume_id is missing or not a UUID` };
    }
    return { ok: true, change: { kind: 'volume-deleted', volumeId: id.toLowerCase(), eventAt } };
  }
  if (eventType.startsWith('snapshot.')) {
    const { volume_id: volumeId, snapshot_id: snapshotId } = payload;
    if (typeof volumeId !== 'string' || !UUID.test(volumeId)) {
      return { ok: false, reason: `${eventType}: volume_id is missing or not a UUID` };
    }
    if (typeof snapshotId !== 'string' || !UUID.test(snapshotId)) {
      return { ok: false, reason: `${eventType}: snapshot_id is missing or not a UUID` };
    }
    return {
      ok: true,
      change: {
        kind: 'snapshot',
        volumeId: volumeId.toLowerCase(),
        snapshotId: snapshotId.toLowerCase(),
        eventAt,
      },
    };
  }
  if (eventType === 'scheduler.create_volume') {
    // No backend could take the volume: it is in `error` (payload.state) and has no host.
    const id = payload['volume_id'];
    if (typeof id !== 'string' || !UUID.test(id)) {
      return { ok: false, reason: `${eventType}: volume_id is missing or not a UUID` };
    }
    return {
      ok: true,
      change: { kind: 'volume-status', volumeId: id.toLowerCase(), eventAt, status: 'error' },
    };
  }
  return {
    ok: true,
    change: { kind: 'ignored', reason: `${eventType} does not change the volume inventory` },
  };
}
