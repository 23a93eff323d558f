/**
 * The notification consumer's VolumeLookup backed by the Cinder client: `GET /volumes/{id}`
 * as admin, mapped like the poller maps the detail list.
 */
import { OpenStackApiError } from '../openstack/api-error.js';
import type { CinderClient } from '../openstack/cinder.js';
import type { VolumeLookup } from '../notifications/volume-lookup.js';
import { inventoryVolumeOf } from './volume-from-cinder.js';

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
