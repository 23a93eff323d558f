/**
 * What the consumer asks Cinder when a payload is not enough (after a retype the LV may
 * have a new name_id; a managed volume's details). The OpenStack client implements it
 * (`GET /volumes/{id}` as admin); the consumer works without one, from payloads alone.
 */

/** A volume as the Cinder API shows it to an admin, reduced to what the inventory keeps. */
export interface FetchedVolume {
  id: string;
  name: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  /** `os-vol-host-attr:host`. */
  host: string | null;
  /** `os-vol-mig-status-attr:name_id`: the LV is `volume-<nameId ?? id>`. */
  nameId: string | null;
  metadata: Record<string, string>;
  attachments: { server_id: string; attachment_id: string; device?: string; host_name?: string }[];
  bootable: boolean;
  /** The type's name. */
  volumeType: string | null;
  updatedAt: Date | null;
}

/** Fetches one volume; null when Cinder answers 404. Throws (retryable AppError) otherwise. */
export type VolumeLookup = (volumeId: string) => Promise<FetchedVolume | null>;
