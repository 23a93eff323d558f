/**
 * Cinder v3 as in docs/openstack-wire.md section D: routes with and without the project id,
 * the microversion header, the detail list with all_tenants/limit/marker/sort and
 * `volumes_links`, admin-only fields, the metadata sub-resource, create and update.
 */
import { createHash } from 'node:crypto';
import type { HttpResponse, RecordedRequest } from './http-service.js';
import { unauthorized } from './keystone-api.js';
import { listVolumes, stringDict } from './cinder-list.js';
import {
  MAX_MICROVERSION,
  MIN_MICROVERSION,
  atLeast,
  cinderFault,
  detailView,
  formatMicroversion,
  parseMicroversionHeader,
  type Microversion,
  type ViewContext,
} from './cinder-views.js';
import type { NotificationContext } from './oslo-format.js';
import type { EmulatorState, EmuToken, EmuVolume } from './state.js';
import { LifecycleError, type VolumeLifecycle } from './volume-lifecycle.js';

interface Call {
  req: RecordedRequest;
  token: EmuToken;
  isAdmin: boolean;
  mv: Microversion;
  view: ViewContext;
  /** The request path up to and including `/v3[/<project>]`. */
  prefix: string;
  rest: string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function metadataProblem(md: Record<string, string>): string | null {
  for (const [k, v] of Object.entries(md)) {
    if (k.length === 0) return 'Metadata property key blank.';
    if (k.length > 255) return 'Metadata property key greater than 255 characters.';
    if (v.length > 255) return 'Metadata property value greater than 255 characters.';
  }
  return null;
}

/** The Cinder HTTP API over an EmulatorState and the shared VolumeLifecycle. */
export class CinderApi {
  constructor(
    private readonly state: EmulatorState,
    private readonly lifecycle: VolumeLifecycle,
    private readonly baseUrl: () => string,
    private readonly keystoneUrl: () => string,
    /** Cinder's `quota_volumes` per project (the real default is 10; tests default to none). */
    private readonly volumeQuota: number = Infinity,
  ) {}

  handle = async (req: RecordedRequest): Promise<HttpResponse> => {
    const segs = req.path.split('/').filter((s) => s.length > 0);
    if (segs.length === 0 && req.method === 'GET') return this.versions();
    if (segs[0] !== 'v3') return cinderFault(404, 'The resource could not be found.');
    if (segs.length === 1 && req.method === 'GET') {
      return { status: 200, body: { version: this.versionDoc() } };
    }

    const token = this.state.validToken(req.headers['x-auth-token'] as string | undefined);
    if (token === null) return unauthorized(this.keystoneUrl());

    const mvHeader = req.headers['openstack-api-version'];
    const parsed = parseMicroversionHeader(typeof mvHeader === 'string' ? mvHeader : undefined);
    if (parsed === 'invalid') {
      return cinderFault(400, `API Version String ${String(mvHeader)} is of invalid format.`);
    }
    const mv = parsed === null ? MIN_MICROVERSION : parsed === 'latest' ? MAX_MICROVERSION : parsed;
    if (mv.major !== 3 || mv.minor > MAX_MICROVERSION.minor || mv.minor < MIN_MICROVERSION.minor) {
      return cinderFault(
        406,
        `Version ${formatMicroversion(mv)} is not supported by the API. Minimum is ` +
          `${formatMicroversion(MIN_MICROVERSION)} and maximum is ${formatMicroversion(MAX_MICROVERSION)}.`,
      );
    }

    let rest = segs.slice(1);
    let prefix = `${this.baseUrl()}/v3`;
    let bookmarkBase = this.baseUrl();
    if (rest[0] !== undefined && rest[0] !== 'volumes') {
      // A project id in the URL must be the token's project.
      if (rest[0] !== token.projectId) return cinderFault(400, 'Malformed request url');
      prefix = `${prefix}/${rest[0]}`;
      bookmarkBase = `${bookmarkBase}/${rest[0]}`;
      rest = rest.slice(1);
    }
    const isAdmin = token.roles.includes('admin');
    const call: Call = {
      req,
      token,
      isAdmin,
      mv,
      view: { microversion: mv, isAdmin, linkBase: prefix, bookmarkBase },
      prefix,
      rest,
    };
    let out: HttpResponse;
    try {
      out = await this.route(call);
    } catch (err) {
      if (err instanceof LifecycleError) out = cinderFault(err.status, err.message);
      else throw err;
    }
    return {
      ...out,
      headers: {
        ...out.headers,
        'OpenStack-API-Version': `volume ${formatMicroversion(mv)}`,
        Vary: 'OpenStack-API-Version',
      },
    };
  };

  private versionDoc(): Record<string, unknown> {
    return {
      id: 'v3.0',
      status: 'CURRENT',
      version: formatMicroversion(MAX_MICROVERSION),
      min_version: formatMicroversion(MIN_MICROVERSION),
      updated: '2023-08-31T00:00:00Z',
      links: [{ rel: 'self', href: `${this.baseUrl()}/v3/` }],
    };
  }

  private versions(): HttpResponse {
    return { status: 300, body: { versions: [this.versionDoc()] } };
  }

  private async route(c: Call): Promise<HttpResponse> {
    const [first, id, sub, key, ...extra] = c.rest;
    const m = c.req.method;
    if (first !== 'volumes' || extra.length > 0) {
      return cinderFault(404, 'The resource could not be found.');
    }
    if (id === undefined) {
      if (m === 'GET') return this.list(c, false);
      if (m === 'POST') return this.create(c);
      return cinderFault(405, 'The method is not allowed for this resource.');
    }
    if (id === 'detail' && sub === undefined && m === 'GET') return this.list(c, true);
    const v = this.visible(c, id);
    if (sub === undefined) {
      if (m === 'GET') return { status: 200, body: { volume: detailView(v, c.view) } };
      if (m === 'PUT') return this.update(c, v);
      if (m === 'DELETE') {
        this.requireWriter(c, 'volume:delete');
        this.lifecycle.beginDelete(v.id);
        return { status: 202 };
      }
      return cinderFault(405, 'The method is not allowed for this resource.');
    }
    if (sub === 'action' && key === undefined) {
      if (m !== 'POST') return cinderFault(405, 'The method is not allowed for this resource.');
      return this.action(c, v);
    }
    if (sub !== 'metadata') return cinderFault(404, 'The resource could not be found.');
    if (key === undefined) return this.metadata(c, v);
    return this.metadataItem(c, v, key);
  }

  /**
   * `POST /volumes/{id}/action`: only `os-reset_status` (admin actions,
   * cinder/api/contrib/admin_actions.py): the status must be one the admin API accepts, the
   * token must hold the admin role (403 otherwise); 202 without a body. Other actions are
   * not emulated (404, as Cinder answers an action it does not know).
   */
  private async action(c: Call, v: EmuVolume): Promise<HttpResponse> {
    const body = c.req.body;
    const keys = isObject(body) ? Object.keys(body) : [];
    const name = keys.length === 1 ? keys[0] : undefined;
    if (!isObject(body) || name === undefined) {
      return cinderFault(400, 'Malformed request body');
    }
    if (name !== 'os-reset_status') return cinderFault(404, `There is no such action: ${name}`);
    const args = body[name];
    const status = isObject(args) ? args['status'] : undefined;
    if (typeof status !== 'string' || status.length === 0) {
      return cinderFault(
        400,
        "Must specify 'status', 'attach_status' or 'migration_status' for update.",
      );
    }
    if (!RESET_STATUSES.includes(status.toLowerCase())) {
      return cinderFault(400, 'Must specify a valid status');
    }
    if (!c.isAdmin) {
      return cinderFault(
        403,
        "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.",
      );
    }
    await this.lifecycle.resetStatus(v.id, status.toLowerCase());
    return { status: 202 };
  }

  /** Non-admins see their own project's volumes; others are "not found", not forbidden. */
  private visible(c: Call, id: string): EmuVolume {
    const v = this.state.volumes.get(id);
    if (v === undefined || (!c.isAdmin && v.projectId !== c.token.projectId)) {
      throw new LifecycleError(404, `Volume ${id} could not be found.`);
    }
    return v;
  }

  private requireWriter(c: Call, action: string): void {
    if (!c.token.roles.some((r) => r === 'admin' || r === 'member')) {
      throw new LifecycleError(403, `Policy doesn't allow ${action} to be performed.`);
    }
  }

  private list(c: Call, detail: boolean): HttpResponse {
    return listVolumes(this.state, {
      query: c.req.query,
      projectId: c.token.projectId,
      isAdmin: c.isAdmin,
      mv: c.mv,
      view: c.view,
      prefix: c.prefix,
      detail,
    });
  }

  private create(c: Call): HttpResponse {
    this.requireWriter(c, 'volume:create');
    const body = c.req.body;
    const vol = isObject(body) ? body['volume'] : undefined;
    if (!isObject(vol))
      return cinderFault(400, "Missing required element 'volume' in request body.");
    if ('multiattach' in vol) {
      return cinderFault(
        400,
        'multiattach parameter has been removed. Use a multiattach volume type.',
      );
    }
    const fromSource = ['snapshot_id', 'source_volid', 'backup_id'].some(
      (k) => typeof vol[k] === 'string',
    );
    const size = vol['size'];
    if (!fromSource && (typeof size !== 'number' || !Number.isInteger(size) || size < 1)) {
      return cinderFault(400, 'Invalid input for field/attribute size. Value: ' + String(size));
    }
    const typeName = vol['volume_type'];
    if (typeof typeName === 'string') {
      const known = [...this.state.volumeTypes.values()].some(
        (t) => t.name === typeName || t.id === typeName,
      );
      if (!known) return cinderFault(404, `Volume type with name ${typeName} could not be found.`);
    }
    const used = [...this.state.volumes.values()].filter(
      (v) => v.projectId === c.token.projectId,
    ).length;
    if (used >= this.volumeQuota) {
      const fault = cinderFault(
        413,
        `VolumeLimitExceeded: Maximum number of volumes allowed (${this.volumeQuota}) exceeded for quota 'volumes'.`,
      );
      const inner = fault.body['overLimit'] as Record<string, unknown>;
      return { status: 413, body: { overLimit: { ...inner, retryAfter: '0' } } };
    }
    const metadata = vol['metadata'] === undefined ? {} : stringDict(vol['metadata']);
    if (metadata === null) return cinderFault(400, 'Invalid input for field/attribute metadata.');
    const problem = metadataProblem(metadata);
    if (problem !== null) return cinderFault(400, problem);
    const v = this.lifecycle.beginCreate(
      {
        name: typeof vol['name'] === 'string' ? vol['name'] : null,
        description: typeof vol['description'] === 'string' ? vol['description'] : null,
        projectId: c.token.projectId ?? undefined,
        userId: c.token.userId,
        size: typeof size === 'number' ? size : 1,
        ...(typeof vol['volume_type'] === 'string' ? { volumeType: vol['volume_type'] } : {}),
        ...(typeof vol['availability_zone'] === 'string'
          ? { availabilityZone: vol['availability_zone'] }
          : {}),
        metadata,
        snapshotId: typeof vol['snapshot_id'] === 'string' ? vol['snapshot_id'] : null,
        sourceVolid: typeof vol['source_volid'] === 'string' ? vol['source_volid'] : null,
      },
      this.context(c),
    );
    return { status: 202, body: { volume: detailView(v, c.view) } };
  }

  private async update(c: Call, v: EmuVolume): Promise<HttpResponse> {
    this.requireWriter(c, 'volume:update');
    const body = c.req.body;
    const vol = isObject(body) ? body['volume'] : undefined;
    if (!isObject(vol))
      return cinderFault(400, "Missing required element 'volume' in request body.");
    const allowed = ['name', 'description', 'metadata', 'display_name', 'display_description'];
    if (atLeast(c.mv, 53)) {
      if (Object.keys(vol).length === 0 || Object.keys(vol).some((k) => !allowed.includes(k))) {
        return cinderFault(400, 'Invalid input for field/attribute volume.');
      }
    }
    let metadata: Record<string, string> | undefined;
    if (vol['metadata'] !== undefined) {
      const md = stringDict(vol['metadata']);
      if (md === null) return cinderFault(400, 'Invalid input for field/attribute metadata.');
      const problem = metadataProblem(md);
      if (problem !== null) return cinderFault(400, problem);
      metadata = md;
    }
    const name = vol['name'] ?? vol['display_name'];
    const description = vol['description'] ?? vol['display_description'];
    const updated = await this.lifecycle.update(
      v.id,
      {
        ...(typeof name === 'string' || name === null ? { name } : {}),
        ...(typeof description === 'string' || description === null ? { description } : {}),
        ...(metadata === undefined ? {} : { metadata }),
      },
      this.context(c),
    );
    return { status: 200, body: { volume: detailView(updated, c.view) } };
  }

  private metadata(c: Call, v: EmuVolume): HttpResponse {
    const m = c.req.method;
    if (m === 'GET') return this.metadataBody(c, v);
    if (m !== 'POST' && m !== 'PUT') {
      return cinderFault(405, 'The method is not allowed for this resource.');
    }
    this.requireWriter(c, 'volume:update_volume_metadata');
    const body = c.req.body;
    const md = isObject(body) ? stringDict(body['metadata']) : null;
    if (md === null) return cinderFault(400, 'Malformed request body');
    const problem = metadataProblem(md);
    if (problem !== null) return cinderFault(400, problem);
    if (m === 'PUT' && atLeast(c.mv, 15)) {
      const ifMatch = c.req.headers['if-match'];
      if (typeof ifMatch === 'string' && ifMatch !== etagOf(v.metadata)) {
        return { status: 412, body: cinderFault(412, 'Precondition Failed').body };
      }
    }
    this.lifecycle.setMetadata(v.id, md, m === 'PUT' ? 'replace' : 'merge');
    return { status: 200, body: { metadata: { ...v.metadata } } };
  }

  private metadataBody(c: Call, v: EmuVolume): HttpResponse {
    const headers: Record<string, string> = atLeast(c.mv, 15) ? { Etag: etagOf(v.metadata) } : {};
    return { status: 200, headers, body: { metadata: { ...v.metadata } } };
  }

  private metadataItem(c: Call, v: EmuVolume, key: string): HttpResponse {
    const m = c.req.method;
    if (m === 'GET') {
      const val = v.metadata[key];
      if (val === undefined) return cinderFault(404, 'Metadata item was not found');
      return { status: 200, body: { meta: { [key]: val } } };
    }
    if (m === 'DELETE') {
      this.requireWriter(c, 'volume:delete_volume_metadata');
      this.lifecycle.deleteMetadataKey(v.id, key);
      return { status: 200 };
    }
    if (m === 'PUT') {
      this.requireWriter(c, 'volume:update_volume_metadata');
      const body = c.req.body;
      const meta = isObject(body) ? stringDict(body['meta']) : null;
      if (meta === null) return cinderFault(400, 'Malformed request body');
      const keys = Object.keys(meta);
      if (keys.length > 1) return cinderFault(400, 'Request body contains too many items');
      if (keys[0] !== key) return cinderFault(400, 'Request body and URI mismatch');
      const problem = metadataProblem(meta);
      if (problem !== null) return cinderFault(400, problem);
      this.lifecycle.setMetadata(v.id, meta, 'merge');
      return { status: 200, body: { meta } };
    }
    return cinderFault(405, 'The method is not allowed for this resource.');
  }

  private context(c: Call): NotificationContext {
    const project = c.token.projectId === null ? null : this.state.projects.get(c.token.projectId);
    return {
      userId: c.token.userId,
      projectId: c.token.projectId ?? '',
      projectName: project?.name ?? '',
      roles: c.token.roles,
      isAdmin: c.isAdmin,
    };
  }
}

/** What `os-reset_status` accepts for a volume (VolumeAdminController.valid_status). */
const RESET_STATUSES: readonly string[] = [
  'creating',
  'available',
  'deleting',
  'error',
  'error_deleting',
  'error_managing',
  'managing',
  'attaching',
  'in-use',
  'detaching',
  'maintenance',
];

function etagOf(md: Record<string, string>): string {
  return createHash('md5').update(JSON.stringify(md)).digest('hex');
}
