/**
 * The volumes Cinder changed since a time, read as admin from the paginated detail list
 * (`GET /volumes/detail?all_tenants=1&updated_at=gte:<time>`, microversion 3.60) and mapped
 * like the poller maps it: what the hint confirmer reads when many hints wait, instead of
 * one `GET /volumes/{id}` each. A volume the list leaves out (deleted, or not updated since)
 * is simply absent: the caller reads it alone.
 */
import type { InventoryVolume } from '../db/volumes.js';
import { OpenStackApiError } from '../openstack/api-error.js';
import type { CinderClient } from '../openstack/cinder.js';
import { inventoryVolumeOf } from './volume-from-cinder.js';

/**
 * The live volumes updated at or after `since`, by id (lower case). `beforePage` runs before
 * each page's request (the caller's rate limit). Throws what the list request throws.
 */
export type ChangedVolumesLookup = (
  since: Date,
  beforePage?: () => Promise<void>,
) => Promise<Map<string, InventoryVolume>>;

/** Most pages one listing reads (1,000 volumes each); past it the listing fails. */
const MAX_PAGES = 20;

export function cinderChangedVolumes(cinder: CinderClient): ChangedVolumesLookup {
  return async (since, beforePage) => {
    const out = new Map<string, InventoryVolume>();
    let pages = 0;
    // Runs before each page's request: a listing that would need one more page fails.
    const nextPage = async (): Promise<void> => {
      if (pages === MAX_PAGES) {
        throw new OpenStackApiError(
          'OPENSTACK_API_ERROR',
          `more than ${MAX_PAGES} pages of volumes changed since ${since.toISOString()}`,
          { status: null, service: 'cinder' },
        );
      }
      await beforePage?.();
    };
    for await (const volumes of cinder.listAllVolumes({
      updatedSince: since,
      beforePage: nextPage,
    })) {
      pages += 1;
      for (const raw of volumes) {
        // One the service cannot use is left out: its own read says why.
        const m = inventoryVolumeOf(raw);
        if (m.ok) out.set(m.value.id.toLowerCase(), m.value);
      }
    }
    return out;
  };
}
