/**
 * Cinder v3 JSON views of an emulated volume (wire reference D.2): which fields appear at
 * which microversion and for which role, the API date format, attachments and links.
 * Pure: no I/O.
 */
import type { EmuVolume } from './state.js';

/** The microversion range the emulator serves: the same as the referenced Cinder. */
export const MIN_MICROVERSION: Microversion = { major: 3, minor: 0 };
export const MAX_MICROVERSION: Microversion = { major: 3, minor: 71 };

export interface Microversion {
  major: number;
  minor: number;
}

/** Who is asking, as Cinder's policy sees it. */
export interface ViewContext {
  microversion: Microversion;
  isAdmin: boolean;
  /** Base of the links: `http://127.0.0.1:<port>/v3` (+ `/<project>` when the URL had one). */
  linkBase: string;
  bookmarkBase: string;
}

export function atLeast(v: Microversion, minor: number): boolean {
  return v.major > 3 || (v.major === 3 && v.minor >= minor);
}

/** Parses `OpenStack-API-Version`; null when absent (Cinder then uses 3.0). */
export function parseMicroversionHeader(
  header: string | undefined,
): Microversion | 'latest' | 'invalid' | null {
  if (header === undefined) return null;
  for (const part of header.split(',')) {
    const [service, version, ...rest] = part.trim().split(/\s+/);
    if (service?.toLowerCase() !== 'volume') continue;
    if (rest.length > 0 || version === undefined) return 'invalid';
    if (version === 'latest') return 'latest';
    const m = /^(\d+)\.(\d+)$/.exec(version);
    if (m === null) return 'invalid';
    return { major: Number(m[1]), minor: Number(m[2]) };
  }
  return null;
}

export function formatMicroversion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

/** Cinder's API dates: naive UTC with six fractional digits (`2026-05-13T12:50:01.000000`). */
export function cinderTime(d: Date | null): string | null {
  if (d === null) return null;
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}

/** The volume's attachments as the API lists them (only attached ones). */
export function attachmentsView(v: EmuVolume, ctx: ViewContext): Record<string, unknown>[] {
  return v.attachments.map((a) => ({
    id: v.id,
    attachment_id: a.attachmentId,
    volume_id: v.id,
    server_id: a.serverId,
    // host_name is shown only to admins (or the service role).
    host_name: ctx.isAdmin ? a.hostName : null,
    device: a.device,
    attached_at: cinderTime(a.attachedAt),
  }));
}

function links(v: EmuVolume, ctx: ViewContext): { rel: string; href: string }[] {
  return [
    { rel: 'self', href: `${ctx.linkBase}/volumes/${v.id}` },
    { rel: 'bookmark', href: `${ctx.bookmarkBase}/volumes/${v.id}` },
  ];
}

/** `GET /volumes` entries. */
export function summaryView(v: EmuVolume, ctx: ViewContext): Record<string, unknown> {
  return { id: v.id, name: v.name, links: links(v, ctx) };
}

/** `GET /volumes/detail` entries and `GET /volumes/{id}`. */
export function detailView(v: EmuVolume, ctx: ViewContext): Record<string, unknown> {
  const mv = ctx.microversion;
  const out: Record<string, unknown> = {
    id: v.id,
    status: v.status,
    size: v.size,
    availability_zone: v.availabilityZone,
    created_at: cinderTime(v.createdAt),
    updated_at: cinderTime(v.updatedAt),
    name: v.name,
    description: v.description,
    // Before 3.63 the API may fall back to the type id; the emulator always has the object.
    volume_type: v.volumeTypeName,
    snapshot_id: v.snapshotId,
    source_volid: v.sourceVolid,
    metadata: { ...v.metadata },
    links: links(v, ctx),
    user_id: v.userId,
    bootable: String(v.bootable),
    encrypted: false,
    replication_status: null,
    consistencygroup_id: null,
    multiattach: v.multiattach,
    attachments: attachmentsView(v, ctx),
    'os-vol-tenant-attr:tenant_id': v.projectId,
  };
  if (ctx.isAdmin) {
    out['migration_status'] = v.migrationStatus;
    out['os-vol-host-attr:host'] = v.host;
    out['os-vol-mig-status-attr:migstat'] = v.migrationStatus;
    out['os-vol-mig-status-attr:name_id'] = v.nameId;
  }
  if (atLeast(mv, 13)) out['group_id'] = null;
  if (atLeast(mv, 21) && ctx.isAdmin) out['provider_id'] = null;
  if (atLeast(mv, 48)) {
    out['shared_targets'] = true;
    out['service_uuid'] = v.host === null ? null : serviceUuid(v.host);
  }
  if (atLeast(mv, 61) && ctx.isAdmin) out['cluster_name'] = null;
  if (atLeast(mv, 63)) out['volume_type_id'] = v.volumeTypeId;
  if (atLeast(mv, 65)) out['consumes_quota'] = true;
  return out;
}

/** A stable fake uuid per backend host, as the cinder-volume service row would have. */
function serviceUuid(host: string): string {
  let h = 0;
  for (const c of host.split('#')[0] ?? host) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}0000`;
}

/** Cinder's fault body: `{"<name>": {"message", "code"}}` (cinder/api/openstack/wsgi.py). */
export function cinderFault(
  status: number,
  message: string,
): { status: number; body: Record<string, unknown> } {
  const names: Record<number, string> = {
    400: 'badRequest',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'itemNotFound',
    405: 'badMethod',
    409: 'conflictingRequest',
    412: 'preconditionFailed',
    413: 'overLimit',
    415: 'badMediaType',
    501: 'notImplemented',
    503: 'serviceUnavailable',
  };
  const name = names[status] ?? 'computeFault';
  return { status, body: { [name]: { message, code: status } } };
}
