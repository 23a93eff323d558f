/**
 * The volume usage payload Cinder sends with `volume.*` notifications
 * (`volume_utils._usage_from_volume`, openstack-wire.md B.3), validated into the fields the
 * inventory keeps. Real messages differ from the source-derived reference in ways handled
 * here: `metadata` is a list of `{key, value}` (a dict is accepted too), `volume_type` is the
 * type's id, `created_at` carries `+00:00`. Payloads come from a broker many services can
 * publish to, so every field is type- and size-checked; nothing is trusted blindly.
 */
import { isRecord } from '../is-record.js';

/** One attachment, in the inventory's shape (volumes.attachments). */
export interface VolumeAttachment {
  server_id: string;
  attachment_id: string;
  device?: string;
  host_name?: string;
}

/** What a volume notification says about the volume. */
export interface VolumeState {
  volumeId: string;
  projectId: string;
  status: string;
  sizeGb: number;
  /** `host@backend#pool`, null before scheduling. */
  host: string | null;
  name: string | null;
  metadata: Record<string, string>;
  attachments: VolumeAttachment[];
  /** The volume type's id (notifications carry the id, the API the name). */
  volumeTypeId: string | null;
}

export type PayloadParse<T> = { ok: true; value: T } | { ok: false; reason: string };

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATUS = /^[a-z][a-z_-]{0,39}$/;
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Cinder's own column sizes: metadata keys and values are String(255). */
const MAX_META_LEN = 255;
const MAX_META_ENTRIES = 256;
const MAX_ATTACHMENTS = 64;

function optionalString(
  payload: Record<string, unknown>,
  key: string,
  max: number,
): PayloadParse<string | null> {
  const v = payload[key];
  if (v === undefined || v === null) return { ok: true, value: null };
  if (typeof v !== 'string') return { ok: false, reason: `${key} is not a string` };
  if (v.length > max) return { ok: false, reason: `${key} is longer than ${max} characters` };
  return { ok: true, value: v };
}

/** `metadata` as a list of {key, value} (real Cinder) or a dict (unit-test shape). */
export function parseMetadata(raw: unknown): PayloadParse<Record<string, string>> {
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  let pairs: [unknown, unknown][];
  if (Array.isArray(raw)) {
    pairs = [];
    for (const item of raw) {
      if (!isRecord(item)) return { ok: false, reason: 'metadata item is not an object' };
      pairs.push([item['key'], item['value']]);
    }
  } else if (isRecord(raw)) {
    pairs = Object.entries(raw);
  } else {
    return { ok: false, reason: 'metadata is neither a list of {key, value} nor a dict' };
  }
  if (pairs.length > MAX_META_ENTRIES) {
    return { ok: false, reason: `metadata has more than ${MAX_META_ENTRIES} entries` };
  }
  const out = new Map<string, string>();
  for (const [key, value] of pairs) {
    if (typeof key !== 'string' || key === '') {
      return { ok: false, reason: 'metadata key is not a non-empty string' };
    }
    if (typeof value !== 'string') return { ok: false, reason: 'metadata value is not a string' };
    if (key.length > MAX_META_LEN || value.length > MAX_META_LEN) {
      return {
        ok: false,
        reason: `metadata key or value is longer than ${MAX_META_LEN} characters`,
      };
    }
    if (CONTROL.test(key))
      return { ok: false, reason: 'metadata key contains a control character' };
    out.set(key, value);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return { ok: true, value: Object.fromEntries(out) };
}

function parseAttachments(raw: unknown): PayloadParse<VolumeAttachment[]> {
  if (raw === undefined || raw === null) return { ok: true, value: [] };
  if (!Array.isArray(raw)) return { ok: false, reason: 'volume_attachment is not a list' };
  if (raw.length > MAX_ATTACHMENTS) {
    return { ok: false, reason: `volume_attachment has more than ${MAX_ATTACHMENTS} rows` };
  }
  const out: VolumeAttachment[] = [];
  for (const row of raw) {
    if (!isRecord(row)) return { ok: false, reason: 'volume_attachment row is not an object' };
    // The payload lists every attachment not yet detached; the API (and the inventory)
    // shows only those that are attached.
    if (row['attach_status'] !== 'attached') continue;
    const { id, instance_uuid: server, mountpoint, attached_host: hostName } = row;
    if (typeof id !== 'string' || id.length > 64) {
      return { ok: false, reason: 'volume_attachment id is not a string' };
    }
    if (typeof server !== 'string' || server.length > 64) {
      return { ok: false, reason: 'volume_attachment instance_uuid is not a string' };
    }
    const a: VolumeAttachment = { server_id: server, attachment_id: id };
    if (typeof mountpoint === 'string' && mountpoint.length <= 255) a.device = mountpoint;
    if (typeof hostName === 'string' && hostName.length <= 255) a.host_name = hostName;
    out.push(a);
  }
  return { ok: true, value: out };
}

/** Validates a volume usage payload. */
export function parseVolumePayload(payload: Record<string, unknown>): PayloadParse<VolumeState> {
  const volumeId = payload['volume_id'];
  if (typeof volumeId !== 'string' || !UUID.test(volumeId)) {
    return { ok: false, reason: 'volume_id is missing or not a UUID' };
  }
  const tenant = payload['tenant_id'];
  if (typeof tenant !== 'string' || tenant === '' || tenant.length > 255 || CONTROL.test(tenant)) {
    return { ok: false, reason: 'tenant_id is missing or malformed' };
  }
  const status = payload['status'];
  if (typeof status !== 'string' || !STATUS.test(status)) {
    return { ok: false, reason: 'status is missing or malformed' };
  }
  const size = payload['size'];
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 1_000_000) {
    return { ok: false, reason: 'size is not an integer number of GiB' };
  }
  const host = optionalString(payload, 'host', 255);
  if (!host.ok) return host;
  if (host.value !== null && CONTROL.test(host.value)) {
    return { ok: false, reason: 'host contains a control character' };
  }
  const name = optionalString(payload, 'display_name', 255);
  if (!name.ok) return name;
  const type = optionalString(payload, 'volume_type', 64);
  if (!type.ok) return type;
  const metadata = parseMetadata(payload['metadata']);
  if (!metadata.ok) return metadata;
  const attachments = parseAttachments(payload['volume_attachment']);
  if (!attachments.ok) return attachments;
  return {
    ok: true,
    value: {
      volumeId: volumeId.toLowerCase(),
      projectId: tenant,
      status,
      sizeGb: size,
      host: host.value,
      name: name.value,
      metadata: metadata.value,
      attachments: attachments.value,
      volumeTypeId: type.value,
    },
  };
}
