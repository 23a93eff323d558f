/**
 * What the consumer asks Cinder when a payload is not enough (after a retype the LV may
 * have a new name_id; a managed volume's details). The OpenStack client implements it
 * (`GET /volumes/{id}` as admin); the consumer works without one, from payloads alone.
 */
import type { InventoryVolume } from '../inventory/volume-from-cinder.js';

/**
 * A volume as the Cinder API shows it to an admin, reduced to what the inventory keeps:
 * the poller's mapping of the same API answer (one shape and one rule for the backend host
 * and the LV name, `volume-<nameId ?? id>`, for both paths).
 */
export type FetchedVolume = InventoryVolume;

/** Fetches one volume; null when Cinder answers 404. Throws (retryable AppError) otherwise. */
export type VolumeLookup = (volumeId: string) => Promise<FetchedVolume | null>;
