/**
 * One volume read from Cinder (`GET /volumes/{id}` as admin), mapped like the poller maps
 * the detail list: what the notification path asks when a payload is not enough.
 */
import type { InventoryVolume } from '../db/volumes.js';
import { OpenStackApiError } from '../openstack/api-error.js';
import type { CinderClient } from '../openstack/cinder.js';
import { inventoryVolumeOf } from './volume-from-cinder.js';

/** Fetches one volume; null when Cinder answers 404. Throws (retryable AppError) otherwise. */
export type VolumeLookup = (volumeId: string) => Promise<InventoryVolume | null>;

/** null when Cinder answers 404; throws when Cinder fails or answers a volume we cannot use. */
export function cinderVolumeLookup(cinder: CinderClient): VolumeLookup {
  return async (volumeId) => {
    const raw = await cinder.getVolume(volumeId);
    if (raw === null) return null;
    const mapped = inventoryVolumeOf(raw);
    if (!mapped.ok) {
      throw new OpenStackApiError(
        'OPENSTACK_API_ERROR',
        `Cinder's volume ${volumeId} cannot be used: ${mapped.reason}`,
        { status: 200, service: 'cinder' },
      );
    }
    return mapped.value;
  };
}
