/**
 * Nova's `GET /v2.1/servers/{id}` (wire reference E): addresses keyed by network label with
 * the `OS-EXT-IPS*` keys, `os-extended-volumes:volumes_attached`, the compute microversion
 * headers, and Nova's `itemNotFound` fault.
 */
import type { HttpResponse, RecordedRequest } from './http-service.js';
import { unauthorized } from './keystone-api.js';
import type { EmulatorState } from './state.js';

const MAX_COMPUTE = '2.96';

function novaFault(status: number, name: string, message: string): HttpResponse {
  return { status, body: { [name]: { code: status, message } } };
}

/** The requested compute microversion, null when absent, 'invalid' when malformed. */
function computeVersion(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(',')) {
    const [service, version] = part.trim().split(/\s+/);
    if (service !== 'compute') continue;
    if (version === 'latest') return MAX_COMPUTE;
    return version !== undefined && /^2\.\d+$/.test(version) ? version : 'invalid';
  }
  return null;
}

/** The Nova HTTP API over an EmulatorState. */
export class NovaApi {
  constructor(
    private readonly state: EmulatorState,
    private readonly baseUrl: () => string,
    private readonly keystoneUrl: () => string,
  ) {}

  handle = (req: RecordedRequest): HttpResponse => {
    const segs = req.path.split('/').filter((s) => s.length > 0);
    if (segs[0] !== 'v2.1') return novaFault(404, 'itemNotFound', 'Not found');
    const token = this.state.validToken(req.headers['x-auth-token'] as string | undefined);
    if (token === null) return unauthorized(this.keystoneUrl());
    const legacy = req.headers['x-openstack-nova-api-version'];
    let version = computeVersion(req.headers['openstack-api-version']);
    if (version === null && typeof legacy === 'string') version = legacy;
    if (version === 'invalid') {
      return novaFault(400, 'badRequest', 'API Version String is of invalid format.');
    }
    const v = version ?? '2.1';
    let rest = segs.slice(1);
    if (rest[0] !== undefined && rest[0] !== 'servers') {
      if (rest[0] !== token.projectId) return novaFault(400, 'badRequest', 'Malformed request URL');
      rest = rest.slice(1);
    }
    const headers = {
      'OpenStack-API-Version': `compute ${v}`,
      'X-OpenStack-Nova-API-Version': v,
      Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
    };
    const [first, id, ...more] = rest;
    if (req.method !== 'GET' || first !== 'servers' || id === undefined || more.length > 0) {
      return { ...novaFault(404, 'itemNotFound', 'The resource could not be found.'), headers };
    }
    const s = this.state.servers.get(id);
    const isAdmin = token.roles.includes('admin');
    if (s === undefined || (!isAdmin && s.projectId !== token.projectId)) {
      return { ...novaFault(404, 'itemNotFound', `Instance ${id} could not be found.`), headers };
    }
    const volumes = [...this.state.volumes.values()]
      .filter((vol) => vol.attachments.some((a) => a.serverId === s.id))
      .map((vol) => ({ id: vol.id, delete_on_termination: false }));
    const base = this.baseUrl();
    return {
      status: 200,
      headers,
      body: {
        server: {
          id: s.id,
          name: s.name,
          status: s.status,
          tenant_id: s.projectId,
          // Nova answers {} while the server is still building.
          addresses: s.status === 'BUILD' ? {} : s.addresses,
          'os-extended-volumes:volumes_attached': volumes,
          links: [
            { rel: 'self', href: `${base}/v2.1/servers/${s.id}` },
            { rel: 'bookmark', href: `${base}/servers/${s.id}` },
          ],
          metadata: {},
        },
      },
    };
  };
}
