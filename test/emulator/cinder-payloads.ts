/**
 * Cinder notification payloads (wire reference B.3, checked against the real fixtures):
 * `_usage_from_volume` with metadata as a list of {key, value}, `volume_type` as the type id,
 * `volume_attachment` as DB rows that carry target credentials, and the snapshot payload
 * whose metadata is a Python repr string. Pure: no I/O.
 */
import { payloadTime, rowTime, type Json } from './oslo-format.js';
import type { EmuAttachment, EmuVolume } from './state.js';

/** The volumes-table row nested in each attachment row (joinedload), with provider_auth. */
function volumeRow(v: EmuVolume): Record<string, Json> {
  return {
    id: v.id,
    _name_id: v.nameId,
    user_id: v.userId,
    project_id: v.projectId,
    host: v.host,
    size: v.size,
    availability_zone: v.availabilityZone,
    status: v.status,
    attach_status: v.attachments.length > 0 ? 'attached' : 'detached',
    migration_status: v.migrationStatus,
    display_name: v.name,
    display_description: v.description,
    provider_location: `127.0.0.1:3260,1 iqn.2010-10.org.openstack:volume-${v.nameId ?? v.id} 1`,
    // What makes these payloads secret: iSCSI CHAP credentials (STYLE.md: never log payloads).
    provider_auth: `CHAP emulated-user emulated-chap-secret-${v.id.slice(0, 8)}`,
    volume_type_id: v.volumeTypeId,
    bootable: v.bootable,
    multiattach: v.multiattach,
    created_at: rowTime(v.createdAt),
    updated_at: rowTime(v.updatedAt),
    deleted_at: null,
    deleted: false,
  };
}

function attachmentRow(v: EmuVolume, a: EmuAttachment): Record<string, Json> {
  const connectionInfo = {
    driver_volume_type: 'iscsi',
    data: {
      target_discovered: false,
      target_iqn: `iqn.2010-10.org.openstack:volume-${v.nameId ?? v.id}`,
      target_portal: '127.0.0.1:3260',
      target_lun: 1,
      volume_id: v.id,
      auth_method: 'CHAP',
      auth_username: 'emulated-user',
      auth_password: `emulated-chap-secret-${v.id.slice(0, 8)}`,
      access_mode: a.mode,
    },
  };
  const connector = {
    host: a.hostName,
    initiator: `iqn.1993-08.org.debian:01:${a.hostName}`,
    ip: '127.0.0.1',
    platform: 'x86_64',
    os_type: 'linux',
    multipath: false,
  };
  return {
    id: a.attachmentId,
    volume_id: v.id,
    instance_uuid: a.serverId,
    attached_host: a.hostName,
    mountpoint: a.device,
    attach_time: rowTime(a.attachedAt),
    detach_time: null,
    attach_status: 'attached',
    attach_mode: a.mode,
    // Both are JSON strings inside the row, not objects.
    connection_info: JSON.stringify(connectionInfo),
    connector: JSON.stringify(connector),
    created_at: rowTime(a.attachedAt),
    updated_at: rowTime(a.attachedAt),
    deleted_at: null,
    deleted: false,
    volume: volumeRow(v),
  };
}

/** `_usage_from_volume` plus `extra_usage_info`, keys in the order the real Cinder sent them. */
export function volumeUsagePayload(
  v: EmuVolume,
  extra: Record<string, Json> = {},
  options: { reloaded?: boolean } = {},
): Record<string, Json> {
  // Events sent after the volume was re-read from MySQL (DATETIME has whole seconds) carry
  // no fraction, as resize.start does in the real fixtures; fresh objects carry microseconds.
  const t = (d: Date, micros: number) =>
    options.reloaded === true
      ? payloadTime(new Date(Math.floor(d.getTime() / 1000) * 1000))
      : payloadTime(d, micros);
  const base: Record<string, Json> = {
    tenant_id: v.projectId,
    host: v.host,
    user_id: v.userId,
    availability_zone: v.availabilityZone,
    volume_id: v.id,
    volume_type: v.volumeTypeId,
    display_name: v.name,
    // launched_at is replaced by "now" when null; the emulator always sets it on create.
    launched_at: t(v.launchedAt ?? v.createdAt, 633),
    created_at: t(v.createdAt, 73),
    status: v.status,
    snapshot_id: v.snapshotId,
    size: v.size,
    replication_status: null,
    replication_extended_status: null,
    replication_driver_data: null,
    metadata: Object.entries(v.metadata).map(([key, value]) => ({ key, value })),
    volume_attachment: v.attachments.map((a) => attachmentRow(v, a)),
  };
  return { ...base, ...extra };
}

/** Python `str(dict)` of string pairs: `{'k': 'v'}`; Cinder sends '' when there is none. */
export function pythonReprDict(d: Record<string, string>): string {
  const entries = Object.entries(d);
  if (entries.length === 0) return '';
  // Python's repr picks double quotes when the text has a ' and no ", else single quotes.
  const q = (s: string) => {
    const b = s.replaceAll('\\', '\\\\');
    return s.includes("'") && !s.includes('"') ? `"${b}"` : `'${b.replaceAll("'", "\\'")}'`;
  };
  return `{${entries.map(([k, v]) => `${q(k)}: ${q(v)}`).join(', ')}}`;
}

/** `_usage_from_snapshot` (wire reference B.3). */
export function snapshotUsagePayload(
  v: EmuVolume,
  snap: {
    id: string;
    name: string | null;
    status: string;
    createdAt: Date;
    metadata: Record<string, string>;
    /** Python's str() of the deleted flag: '' while alive, 'True' once deleted. */
    deleted?: boolean;
  },
): Record<string, Json> {
  return {
    tenant_id: v.projectId,
    user_id: v.userId,
    availability_zone: v.availabilityZone,
    volume_id: v.id,
    volume_size: v.size,
    snapshot_id: snap.id,
    display_name: snap.name,
    created_at: payloadTime(new Date(Math.floor(snap.createdAt.getTime() / 1000) * 1000)),
    status: snap.status,
    deleted: snap.deleted === true ? 'True' : '',
    metadata: pythonReprDict(snap.metadata),
  };
}

/**
 * `scheduler.create_volume` (priority ERROR) when no backend can take a volume: the request
 * spec with the volume object, its type and properties (keys as in the real fixture 0015).
 */
export function schedulerCreateFailedPayload(v: EmuVolume, reason: string): Record<string, Json> {
  const properties: Record<string, Json> = {
    attach_status: 'detached',
    availability_zone: v.availabilityZone,
    cgsnapshot_id: null,
    consistencygroup_id: null,
    group_id: null,
    display_description: v.description,
    display_name: v.name,
    encryption_key_id: null,
    metadata: { ...v.metadata },
    multiattach: v.multiattach,
    project_id: v.projectId,
    qos_specs: null,
    reservations: [],
    size: v.size,
    snapshot_id: v.snapshotId,
    source_volid: v.sourceVolid,
    status: 'creating',
    user_id: v.userId,
    volume_type_id: v.volumeTypeId,
  };
  const volumeType: Record<string, Json> = {
    id: v.volumeTypeId,
    name: v.volumeTypeName,
    description: null,
    is_public: true,
    projects: [],
    extra_specs: {},
    qos_specs_id: null,
    created_at: rowTime(v.createdAt),
    updated_at: null,
    deleted_at: null,
    deleted: false,
  };
  return {
    request_spec: {
      consistencygroup_id: null,
      group_id: null,
      cgsnapshot_id: null,
      image_id: null,
      snapshot_id: v.snapshotId,
      source_volid: v.sourceVolid,
      volume_id: v.id,
      volume: {
        ...volumeRow(v),
        name: `volume-${v.id}`,
        name_id: v.id,
        metadata: { ...v.metadata },
      },
      volume_type: volumeType,
      volume_properties: properties,
      backup_id: null,
      availability_zones: [v.availabilityZone],
      resource_properties: properties,
    },
    volume_properties: properties,
    volume_id: v.id,
    state: 'error',
    method: 'create_volume',
    reason,
  };
}
