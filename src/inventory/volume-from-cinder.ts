/**
 * A Cinder `volumes/detail` entry → an inventory row (`volumes` table, 0001_catalog.sql):
 * backend_host is the host with its `#pool` stripped, the LV is `volume-<name_id ?? id>`,
 * attachments keep the server ids, bootable is Cinder's "true"/"false" string, dates are
 * Cinder's naive UTC. Validates what it reads: a tenant's metadata is data, not trusted; NUL
 * and lone surrogates, which Postgres cannot keep, are replaced (storable-text.ts; the entry
 * is changed in place). Pure: no I/O.
 */
import { backendHostOf, type InventoryAttachment, type InventoryVolume } from '../db/volumes.js';
import { isRecord } from '../is-record.js';
import { makeStorable } from '../storable-text.js';

export type MapResult =
  { ok: true; value: InventoryVolume } | { ok: false; id: string | null; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Cinder's own limits: 255 characters per key and value. */
const MAX_META = 255;
/** The host key is admin-only: its absence means the token is not admin (wire reference G). */
export const HOST_ATTR = 'os-vol-host-attr:host';
const NAME_ID_ATTR = 'os-vol-mig-status-attr:name_id';
const TENANT_ATTR = 'os-vol-tenant-attr:tenant_id';

/** Cinder API dates are naive UTC (`2026-05-13T12:50:01.000000`); JS would read them as local. */
export function parseCinderDate(v: unknown): Date | null {
  if (typeof v !== 'string' || v.length === 0) return null;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(v);
  if (m === null) return null;
  const frac = m[2] === undefined ? '' : m[2].slice(0, 4);
  const d = new Date(`${m[1]}${frac}${m[3] ?? 'Z'}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

function attachmentsOf(v: unknown): InventoryAttachment[] | string {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return 'attachments is not a list';
  const out: InventoryAttachment[] = [];
  for (const a of v) {
    if (!isRecord(a)) return 'an attachment is not an object';
    const serverId = a['server_id'];
    const attachmentId = a['attachment_id'];
    if (typeof serverId !== 'string' || typeof attachmentId !== 'string') {
      return 'an attachment lacks server_id or attachment_id';
    }
    const att: InventoryAttachment = { server_id: serverId, attachment_id: attachmentId };
    if (typeof a['device'] === 'string') att.device = a['device'];
    if (typeof a['host_name'] === 'string') att.host_name = a['host_name'];
    out.push(att);
  }
  return out;
}

function metadataOf(v: unknown): Record<string, string> | string {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) return 'metadata is not a dict';
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string')
      return `metadata value of ${JSON.stringify(k.slice(0, 40))} is not a string`;
    if (k.length > MAX_META || x.length > MAX_META)
      return 'a metadata key or value is over 255 characters';
    out[k] = x;
  }
  return out;
}

/** Maps and validates one volume of the detail list. */
export function inventoryVolumeOf(v: unknown): MapResult {
  if (!isRecord(v)) return { ok: false, id: null, reason: 'not an object' };
  // A NUL or a lone surrogate in a name or a tag failed the write of the whole poll.
  makeStorable(v);
  const id = v['id'];
  if (typeof id !== 'string' || !UUID.test(id))
    return { ok: false, id: null, reason: 'id is not a UUID' };
  const bad = (reason: string): MapResult => ({ ok: false, id, reason });
  if (!(HOST_ATTR in v)) {
    return bad(
      `${HOST_ATTR} is missing: the credentials lack the admin role (all_tenants is then ignored too)`,
    );
  }
  const host = v[HOST_ATTR];
  if (host !== null && typeof host !== 'string') return bad(`${HOST_ATTR} is not a string`);
  const nameId = v[NAME_ID_ATTR] ?? null;
  if (nameId !== null && (typeof nameId !== 'string' || !UUID.test(nameId))) {
    return bad(`${NAME_ID_ATTR} is not a UUID`);
  }
  const projectId = v[TENANT_ATTR];
  if (typeof projectId !== 'string' || projectId.length === 0)
    return bad(`${TENANT_ATTR} is missing`);
  const status = v['status'];
  if (typeof status !== 'string' || status.length === 0) return bad('status is missing');
  const size = v['size'];
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0)
    return bad('size is not a whole number');
  const name = v['name'] ?? null;
  if (name !== null && typeof name !== 'string') return bad('name is not a string');
  const volumeType = v['volume_type'] ?? null;
  if (volumeType !== null && typeof volumeType !== 'string')
    return bad('volume_type is not a string');
  const metadata = metadataOf(v['metadata']);
  if (typeof metadata === 'string') return bad(metadata);
  const attachments = attachmentsOf(v['attachments']);
  if (typeof attachments === 'string') return bad(attachments);
  const bootable = v['bootable'];
  return {
    ok: true,
    value: {
      id,
      name,
      projectId,
      status,
      sizeGb: size,
      host,
      backendHost: backendHostOf(host),
      nameId,
      lvName: `volume-${nameId ?? id}`,
      metadata,
      attachments,
      bootable: bootable === true || bootable === 'true' || bootable === 'True',
      volumeType,
      cinderUpdatedAt: parseCinderDate(v['updated_at']),
    },
  };
}
