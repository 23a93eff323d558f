/**
 * The in-process control API of the OpenStack emulator: what a test calls to change the
 * cloud (volumes, servers, tokens) and to make the APIs fail. Every volume operation goes
 * through the same VolumeLifecycle as the HTTP API, so it emits the notifications a real
 * Cinder would (or none, where Cinder sends none).
 */
import { randomUUID } from 'node:crypto';
import type { EmulatedService, FailureRule, RecordedRequest } from './http-service.js';
import type { OsloNotifier } from './oslo-notifier.js';
import type { EmulatorState, EmuServer, EmuVolume } from './state.js';
import type { CreateVolumeSpec, VolumeLifecycle } from './volume-lifecycle.js';

export type ServiceName = 'keystone' | 'cinder' | 'nova';

/**
 * A failure to inject: `status` (e.g. 503, 429), `timeout` (no answer), `reset`, or
 * `truncate` (the real answer cut in half mid-body).
 */
export interface InjectedFailure {
  kind?: 'status' | 'timeout' | 'reset' | 'truncate';
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests fail; default 1, `Infinity` until clearFailures(). */
  times?: number;
  /** Only requests this predicate accepts fail (e.g. only those with a marker). */
  match?: (req: RecordedRequest) => boolean;
}

/** Test-side control of an emulated cloud. */
export class EmulatorControl {
  constructor(
    readonly state: EmulatorState,
    private readonly lifecycle: VolumeLifecycle,
    private readonly services: Record<ServiceName, EmulatedService>,
    /** Null when the emulator was started with `notifier: false`. */
    readonly notifier: OsloNotifier | null,
  ) {}

  // ---- volumes ----------------------------------------------------------------------------

  /** Creates a volume (default: 1 GiB, available, on the default backend); notifies create. */
  createVolume(spec: CreateVolumeSpec = {}): Promise<EmuVolume> {
    return this.lifecycle.create(spec);
  }

  /** Creates `count` volumes at once without notifications (the cloud as it already was). */
  seedVolumes(count: number, spec?: (i: number) => CreateVolumeSpec): EmuVolume[] {
    return this.lifecycle.seed(count, spec);
  }

  /** Attaches to a server (created on the fly if unknown); notifies attach.start/end. */
  async attachVolume(
    id: string,
    serverId: string,
    opts: { hostName?: string; device?: string } = {},
  ): Promise<EmuVolume> {
    if (!this.state.servers.has(serverId)) {
      this.createServer({ id: serverId, projectId: this.lifecycle.get(id).projectId });
    }
    return this.lifecycle.attach(id, { serverId, ...opts });
  }

  detachVolume(id: string, serverId?: string): Promise<EmuVolume> {
    return this.lifecycle.detach(id, serverId);
  }

  resizeVolume(id: string, newSizeGb: number): Promise<EmuVolume> {
    return this.lifecycle.resize(id, newSizeGb);
  }

  retypeVolume(id: string, volumeTypeName: string): Promise<EmuVolume> {
    return this.lifecycle.retype(id, volumeTypeName);
  }

  /** As `PUT /volumes/{id}`: metadata, when given, replaces all; notifies update.start/end. */
  updateVolume(
    id: string,
    changes: {
      name?: string | null;
      description?: string | null;
      metadata?: Record<string, string>;
    },
  ): Promise<EmuVolume> {
    return this.lifecycle.update(id, changes);
  }

  /** As the metadata sub-resource (`openstack volume set --property`): NO notification. */
  setMetadata(
    id: string,
    metadata: Record<string, string>,
    mode: 'merge' | 'replace' = 'merge',
  ): EmuVolume {
    return this.lifecycle.setMetadata(id, metadata, mode);
  }

  deleteMetadataKey(id: string, key: string): EmuVolume {
    return this.lifecycle.deleteMetadataKey(id, key);
  }

  /** Deletes now; notifies delete.start/end. */
  deleteVolume(id: string): Promise<void> {
    return this.lifecycle.delete(id);
  }

  /** Deletes without notifications (a delete the service never heard about). */
  deleteVolumeSilently(id: string): boolean {
    return this.state.volumes.delete(id);
  }

  /** As `os-reset_status`; notifies reset_status.start/end. */
  resetStatus(id: string, status: string): Promise<EmuVolume> {
    return this.lifecycle.resetStatus(id, status);
  }

  /** A generic migration: new host and a new name_id (so a new LV name); no notification. */
  migrateVolume(id: string, newHost: string): EmuVolume {
    return this.lifecycle.migrate(id, newHost);
  }

  /** Notifies snapshot.create.start/end; returns the snapshot id. */
  createSnapshot(volumeId: string, name?: string): Promise<string> {
    return this.lifecycle.createSnapshot(volumeId, name ?? null);
  }

  /** Notifies snapshot.delete.start/end. */
  deleteSnapshot(snapshotId: string): Promise<void> {
    return this.lifecycle.deleteSnapshot(snapshotId);
  }

  /** A create no backend takes: `error`, no host; notifies `scheduler.create_volume` (ERROR). */
  createUnschedulableVolume(spec: CreateVolumeSpec = {}, reason?: string): Promise<EmuVolume> {
    return this.lifecycle.createUnschedulable(spec, reason);
  }

  volume(id: string): EmuVolume | undefined {
    return this.state.volumes.get(id);
  }

  volumes(): EmuVolume[] {
    return [...this.state.volumes.values()];
  }

  /** Waits until delayed work (a POSTed volume becoming available) has notified. */
  settle(): Promise<void> {
    return this.lifecycle.settle();
  }

  // ---- servers ----------------------------------------------------------------------------

  createServer(spec: Partial<EmuServer> = {}): EmuServer {
    const s: EmuServer = {
      id: spec.id ?? randomUUID(),
      name: spec.name ?? 'vm',
      projectId: spec.projectId ?? [...this.state.projects.values()][0]?.id ?? '',
      status: spec.status ?? 'ACTIVE',
      addresses: spec.addresses ?? {
        private: [
          {
            version: 4,
            addr: '192.168.1.30',
            'OS-EXT-IPS:type': 'fixed',
            'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:0d:11:74',
          },
        ],
      },
    };
    this.state.servers.set(s.id, s);
    return s;
  }

  // ---- tokens -----------------------------------------------------------------------------

  /** Lifetime of tokens issued from now on (Keystone's `[token] expiration`). */
  setTokenLifetime(seconds: number): void {
    this.state.tokenLifetimeSeconds = seconds;
  }

  /** Makes every token issued so far expired: the next API call with one gets 401. */
  expireAllTokens(): void {
    const past = new Date(this.state.now().getTime() - 1000);
    for (const t of this.state.tokens.values()) t.expiresAt = past;
  }

  /** Moves the emulator's clock (tokens expire by it) forward. */
  advanceClock(ms: number): void {
    this.state.advanceClock(ms);
  }

  // ---- failures ---------------------------------------------------------------------------

  /** Makes the next `times` (default 1) matching requests to `service` fail. */
  fail(service: ServiceName, failure: InjectedFailure = {}): FailureRule {
    const rule: FailureRule = {
      kind: failure.kind ?? 'status',
      times: failure.times ?? 1,
      ...(failure.status === undefined ? {} : { status: failure.status }),
      ...(failure.body === undefined ? {} : { body: failure.body }),
      ...(failure.headers === undefined ? {} : { headers: failure.headers }),
      ...(failure.match === undefined ? {} : { match: failure.match }),
    };
    return this.services[service].inject(rule);
  }

  clearFailures(): void {
    for (const s of Object.values(this.services)) s.clearFailures();
  }

  /** Stops a service's listener: clients get ECONNREFUSED until up() (same port). */
  down(service: ServiceName): Promise<void> {
    return this.services[service].stop();
  }

  up(service: ServiceName): Promise<void> {
    return this.services[service].start();
  }

  /** Requests each service received, oldest first (bodies include secrets: tests only). */
  requests(service: ServiceName): readonly RecordedRequest[] {
    return this.services[service].requests;
  }
}
