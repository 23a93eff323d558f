/**
 * What happens to an emulated volume, and which notifications a real Cinder sends for it
 * (wire reference B.1/B.2): create, attach, detach, resize, retype, update (PUT, the only
 * metadata write that notifies), metadata writes (silent), reset-status, migrate (silent:
 * there is no volume.migrate.* event), delete, and snapshots. Shared by the Cinder HTTP API
 * and the control API so both behave the same.
 */
import { randomUUID } from 'node:crypto';
import {
  schedulerCreateFailedPayload,
  snapshotUsagePayload,
  volumeUsagePayload,
} from './cinder-payloads.js';
import type { OsloNotifier } from './oslo-notifier.js';
import type { Json, NotificationContext, Priority } from './oslo-format.js';
import type { EmulatorState, EmuVolume } from './state.js';

/** Fields a test may set when creating a volume through the control API. */
export interface CreateVolumeSpec {
  id?: string;
  name?: string | null;
  description?: string | null;
  projectId?: string;
  userId?: string;
  size?: number;
  status?: string;
  volumeType?: string;
  availabilityZone?: string;
  bootable?: boolean;
  metadata?: Record<string, string>;
  /** `host@backend#pool`; default the emulator's default backend. */
  host?: string | null;
  snapshotId?: string | null;
  sourceVolid?: string | null;
  multiattach?: boolean;
  createdAt?: Date;
}

export interface LifecycleOptions {
  notifier: OsloNotifier | null;
  /** `[DEFAULT] host` of the API node: publisher of update/reset_status events. */
  apiHost: string;
  /** Where the "scheduler" places new volumes. */
  defaultBackend: string;
  /** Time a POSTed volume spends in `creating`. */
  createDelayMs: number;
}

/** Thrown for an operation Cinder would refuse; the HTTP layer maps `status`. */
export class LifecycleError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Statuses from which an attachment may be made (in-use: a multiattach volume's next). */
const ATTACHABLE: readonly string[] = ['available', 'in-use', 'reserved'];

/** `host@backend#pool` → `host@backend`: the cinder-volume manager's host. */
function managerHost(host: string | null, fallback: string): string {
  return (host ?? fallback).split('#')[0] ?? fallback;
}

/** Volume state changes plus their notifications. */
export class VolumeLifecycle {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly snapshots = new Map<
    string,
    { id: string; volumeId: string; name: string | null; createdAt: Date }
  >();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly state: EmulatorState,
    private readonly opts: LifecycleOptions,
    private readonly defaultContext: () => NotificationContext,
  ) {}

  get(id: string): EmuVolume {
    const v = this.state.volumes.get(id);
    if (v === undefined) throw new LifecycleError(404, `Volume ${id} could not be found.`);
    return v;
  }

  /** Creates a volume that is immediately in its final state (default `available`). */
  async create(spec: CreateVolumeSpec = {}, ctx?: NotificationContext): Promise<EmuVolume> {
    const v = this.build(spec);
    v.status = spec.status ?? 'available';
    v.launchedAt = v.createdAt;
    this.state.volumes.set(v.id, v);
    await this.emitCreate(v, ctx);
    return v;
  }

  /** Creates many volumes without notifications (a cloud that already exists). */
  seed(count: number, spec: (i: number) => CreateVolumeSpec = () => ({})): EmuVolume[] {
    const out: EmuVolume[] = [];
    for (let i = 0; i < count; i++) {
      const s = spec(i);
      const v = this.build(s);
      v.status = s.status ?? 'available';
      v.launchedAt = v.createdAt;
      this.state.volumes.set(v.id, v);
      out.push(v);
    }
    return out;
  }

  /** `POST /volumes`: `creating` now, `available` on the default backend after a delay. */
  beginCreate(spec: CreateVolumeSpec, ctx: NotificationContext): EmuVolume {
    const v = this.build({ ...spec, host: null });
    v.status = 'creating';
    this.state.volumes.set(v.id, v);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.state.volumes.has(v.id)) return;
      v.host = spec.host ?? this.opts.defaultBackend;
      v.status = 'available';
      v.launchedAt = this.state.now();
      v.updatedAt = this.state.now();
      this.track(this.emitCreate(v, ctx));
    }, this.opts.createDelayMs);
    this.timers.add(timer);
    return v;
  }

  async attach(
    id: string,
    a: { serverId: string; hostName?: string; device?: string; mode?: 'rw' | 'ro' },
  ): Promise<EmuVolume> {
    const v = this.get(id);
    // Cinder reserves a volume for an attachment only from these statuses (volume/api.py
    // _attachment_reserve): a volume an admin put in `maintenance` cannot be attached.
    if (!ATTACHABLE.includes(v.status)) {
      throw new LifecycleError(
        400,
        `Invalid volume: Volume ${id} status must be available or in-use (multiattach) to ` +
          `reserve, but the current status is ${v.status}.`,
      );
    }
    if (v.attachments.length > 0 && !v.multiattach) {
      throw new LifecycleError(400, `Volume ${id} is already attached and not multiattach.`);
    }
    v.status = 'attaching';
    await this.emit(v, 'volume.attach.start', 'manager');
    v.attachments.push({
      attachmentId: randomUUID(),
      serverId: a.serverId,
      hostName: a.hostName ?? 'compute1',
      device: a.device ?? '/dev/vdb',
      attachedAt: this.state.now(),
      mode: a.mode ?? 'rw',
    });
    v.status = 'in-use';
    this.touch(v);
    await this.emit(v, 'volume.attach.end', 'manager');
    return v;
  }

  async detach(id: string, serverId?: string): Promise<EmuVolume> {
    const v = this.get(id);
    const idx = v.attachments.findIndex((a) => serverId === undefined || a.serverId === serverId);
    if (idx < 0) throw new LifecycleError(400, `Volume ${id} is not attached.`);
    v.status = 'detaching';
    await this.emit(v, 'volume.detach.start', 'manager');
    v.attachments.splice(idx, 1);
    v.status = v.attachments.length > 0 ? 'in-use' : 'available';
    this.touch(v);
    await this.emit(v, 'volume.detach.end', 'manager');
    return v;
  }

  async resize(id: string, newSize: number): Promise<EmuVolume> {
    const v = this.get(id);
    if (newSize <= v.size) {
      throw new LifecycleError(400, `New size for extend must be greater than current size.`);
    }
    const before = v.status;
    v.status = 'extending';
    await this.emit(v, 'volume.resize.start', 'manager');
    v.size = newSize;
    v.status = before === 'in-use' ? 'in-use' : 'available';
    this.touch(v);
    await this.emit(v, 'volume.resize.end', 'manager', { size: newSize });
    return v;
  }

  async retype(id: string, typeName: string): Promise<EmuVolume> {
    const v = this.get(id);
    const t = this.state.volumeType(typeName);
    v.volumeTypeId = t.id;
    v.volumeTypeName = t.name;
    this.touch(v);
    await this.emit(v, 'volume.retype', 'manager', { volume_type: t.id });
    return v;
  }

  /** `PUT /volumes/{id}`: replaces metadata when given; emits volume.update.start/end. */
  async update(
    id: string,
    changes: {
      name?: string | null;
      description?: string | null;
      metadata?: Record<string, string>;
    },
    ctx?: NotificationContext,
  ): Promise<EmuVolume> {
    const v = this.get(id);
    await this.emit(v, 'volume.update.start', 'api', {}, ctx);
    if (changes.name !== undefined) v.name = changes.name;
    if (changes.description !== undefined) v.description = changes.description;
    if (changes.metadata !== undefined) v.metadata = { ...changes.metadata };
    this.touch(v);
    await this.emit(v, 'volume.update.end', 'api', {}, ctx);
    return v;
  }

  /** The metadata sub-resource: merge or replace, and no notification at all (B.2). */
  setMetadata(id: string, metadata: Record<string, string>, mode: 'merge' | 'replace'): EmuVolume {
    const v = this.get(id);
    this.checkMetadataWritable(v);
    v.metadata = mode === 'replace' ? { ...metadata } : { ...v.metadata, ...metadata };
    this.touch(v);
    return v;
  }

  deleteMetadataKey(id: string, key: string): EmuVolume {
    const v = this.get(id);
    this.checkMetadataWritable(v);
    if (!(key in v.metadata)) {
      throw new LifecycleError(404, `Metadata item was not found.`);
    }
    delete v.metadata[key];
    this.touch(v);
    return v;
  }

  async resetStatus(id: string, status: string): Promise<EmuVolume> {
    const v = this.get(id);
    await this.emit(v, 'volume.reset_status.start', 'api');
    v.status = status;
    this.touch(v);
    await this.emit(v, 'volume.reset_status.end', 'api');
    return v;
  }

  /** A generic migration: new backend, and the LV is now named from a new name_id. */
  migrate(id: string, newHost: string): EmuVolume {
    const v = this.get(id);
    v.host = newHost;
    v.nameId = randomUUID();
    v.migrationStatus = 'success';
    this.touch(v);
    return v;
  }

  async delete(id: string): Promise<void> {
    const v = this.get(id);
    if (v.attachments.length > 0) {
      throw new LifecycleError(
        400,
        'Invalid volume: Volume status must be available or error or error_restoring or ' +
          'error_extending or error_managing and must not be migrating, attached, belong to ' +
          'a group, have snapshots or be disassociated from snapshots after volume transfer.',
      );
    }
    if (v.host === null) {
      // Never scheduled: the API node deletes it itself, the start event keeps the old
      // status (real fixtures 0016/0017).
      await this.emit(v, 'volume.delete.start', 'api');
      this.state.volumes.delete(id);
      v.status = 'deleted';
      await this.emit(v, 'volume.delete.end', 'api');
      return;
    }
    v.status = 'deleting';
    await this.emit(v, 'volume.delete.start', 'manager');
    this.state.volumes.delete(id);
    v.status = 'deleted';
    await this.emit(v, 'volume.delete.end', 'manager');
  }

  /**
   * A create no backend can take: the volume ends in `error` without a host, and the
   * scheduler sends `scheduler.create_volume` with priority ERROR (notifications.error);
   * no volume.create.* events (real fixture 0015).
   */
  async createUnschedulable(
    spec: CreateVolumeSpec = {},
    reason = "NoValidBackend('No valid backend was found. No weighed backends available')",
  ): Promise<EmuVolume> {
    const v = this.build({ ...spec, host: null });
    this.state.volumes.set(v.id, v);
    const payload = schedulerCreateFailedPayload(v, reason);
    v.status = 'error';
    v.launchedAt = this.state.now();
    await this.notify(
      'scheduler.create_volume',
      'ERROR',
      v,
      `scheduler.${this.opts.apiHost}`,
      payload,
    );
    return v;
  }

  /** `DELETE /volumes/{id}`: `deleting` now, gone after the create delay. */
  beginDelete(id: string): void {
    const v = this.get(id);
    if (v.attachments.length > 0 || v.status === 'creating') {
      throw new LifecycleError(400, 'Invalid volume: Volume status must be available or error.');
    }
    v.status = 'deleting';
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      v.status = 'available';
      this.track(this.delete(id).catch(() => undefined));
    }, this.opts.createDelayMs);
    this.timers.add(timer);
  }

  async createSnapshot(id: string, name: string | null = null): Promise<string> {
    const v = this.get(id);
    const snap = { id: randomUUID(), volumeId: id, name, createdAt: this.state.now() };
    const publisher = `snapshot.${managerHost(v.host, this.opts.defaultBackend)}`;
    const payload = (status: string) => snapshotUsagePayload(v, { ...snap, status, metadata: {} });
    await this.notify('snapshot.create.start', 'INFO', v, publisher, payload('creating'));
    this.snapshots.set(snap.id, snap);
    await this.notify('snapshot.create.end', 'INFO', v, publisher, payload('available'));
    return snap.id;
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const snap = this.snapshots.get(snapshotId);
    if (snap === undefined) {
      throw new LifecycleError(404, `Snapshot ${snapshotId} could not be found.`);
    }
    const v = this.get(snap.volumeId);
    const publisher = `snapshot.${managerHost(v.host, this.opts.defaultBackend)}`;
    const base = { ...snap, metadata: {} };
    await this.notify(
      'snapshot.delete.start',
      'INFO',
      v,
      publisher,
      snapshotUsagePayload(v, { ...base, status: 'deleting' }),
    );
    this.snapshots.delete(snapshotId);
    await this.notify(
      'snapshot.delete.end',
      'INFO',
      v,
      publisher,
      snapshotUsagePayload(v, { ...base, status: 'deleted', deleted: true }),
    );
  }

  /** Waits for notifications of delayed operations that are already under way. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private build(spec: CreateVolumeSpec): EmuVolume {
    const ctx = this.defaultContext();
    const type = this.state.volumeType(spec.volumeType ?? 'lvmdriver-1');
    const now = spec.createdAt ?? this.state.now();
    return {
      id: spec.id ?? randomUUID(),
      name: spec.name === undefined ? null : spec.name,
      description: spec.description ?? null,
      projectId: spec.projectId ?? ctx.projectId,
      userId: spec.userId ?? ctx.userId,
      status: 'creating',
      size: spec.size ?? 1,
      availabilityZone: spec.availabilityZone ?? 'nova',
      bootable: spec.bootable ?? false,
      volumeTypeId: type.id,
      volumeTypeName: type.name,
      metadata: { ...(spec.metadata ?? {}) },
      attachments: [],
      host: spec.host === undefined ? this.opts.defaultBackend : spec.host,
      nameId: null,
      migrationStatus: null,
      snapshotId: spec.snapshotId ?? null,
      sourceVolid: spec.sourceVolid ?? null,
      multiattach: spec.multiattach ?? false,
      createdAt: now,
      updatedAt: null,
      launchedAt: null,
      seq: this.state.nextSeq(),
    };
  }

  private touch(v: EmuVolume): void {
    v.updatedAt = this.state.now();
  }

  private checkMetadataWritable(v: EmuVolume): void {
    if (v.status === 'maintenance' || v.status === 'uploading') {
      throw new LifecycleError(
        400,
        `Invalid volume: Volume ${v.id} status must not be maintenance or uploading to update metadata.`,
      );
    }
  }

  private async emitCreate(v: EmuVolume, ctx?: NotificationContext): Promise<void> {
    // The create flow passes volume.host, so create.* publishers carry the '#pool' part.
    const publisher = `volume.${v.host ?? this.opts.apiHost}`;
    const start = { ...volumeUsagePayload(v), status: 'creating' };
    await this.notify('volume.create.start', 'INFO', v, publisher, start, ctx);
    await this.notify('volume.create.end', 'INFO', v, publisher, volumeUsagePayload(v), ctx);
  }

  private async emit(
    v: EmuVolume,
    eventType: string,
    where: 'api' | 'manager',
    extra: Record<string, Json> = {},
    ctx?: NotificationContext,
  ): Promise<void> {
    const publisher =
      where === 'api'
        ? `volume.${this.opts.apiHost}`
        : `volume.${managerHost(v.host, this.opts.defaultBackend)}`;
    const reloaded = where === 'manager' && !eventType.startsWith('volume.delete');
    await this.notify(
      eventType,
      'INFO',
      v,
      publisher,
      volumeUsagePayload(v, extra, { reloaded }),
      ctx,
    );
  }

  private async notify(
    eventType: string,
    priority: Priority,
    _v: EmuVolume,
    publisherId: string,
    payload: Json,
    ctx?: NotificationContext,
  ): Promise<void> {
    if (this.opts.notifier === null) return;
    await this.opts.notifier.notify({
      publisherId,
      eventType,
      priority,
      payload,
      context: ctx ?? this.defaultContext(),
      now: this.state.now(),
    });
  }

  /** The last failure of delayed work (e.g. a notification the broker refused). */
  lastAsyncError: unknown = null;

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => {
      this.lastAsyncError = err;
    });
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }
}
