/**
 * Nova `GET /v2.1/servers/{id}` (wire reference E): a server's name, status and addresses,
 * e.g. to reach the instance for application-consistent backups.
 */
import { OpenStackApiError } from './api-error.js';
import type { KeystoneSession } from './keystone.js';

/** The compute microversion asked for; addresses look the same in every 2.x. */
export const NOVA_MICROVERSION = '2.1';

/** One address of a server on one network. */
export interface ServerAddress {
  version: 4 | 6;
  addr: string;
  'OS-EXT-IPS:type'?: 'fixed' | 'floating';
  'OS-EXT-IPS-MAC:mac_addr'?: string;
}

/** The fields of a server this service reads. */
export interface NovaServer {
  id: string;
  name: string;
  status: string;
  tenant_id?: string;
  /** Network label → fixed then floating addresses; `{}` while building. */
  addresses: Record<string, ServerAddress[]>;
  'os-extended-volumes:volumes_attached'?: { id: string }[];
}

/** A Nova client over a Keystone session. */
export class NovaClient {
  constructor(private readonly session: KeystoneSession) {}

  /** The server, or null when Nova answers 404. */
  async getServer(id: string, signal?: AbortSignal): Promise<NovaServer | null> {
    try {
      const res = await this.session.request<{ server: NovaServer }>('compute', {
        method: 'GET',
        path: `servers/${encodeURIComponent(id)}`,
        headers: { 'OpenStack-API-Version': `compute ${NOVA_MICROVERSION}` },
        ...(signal === undefined ? {} : { signal }),
      });
      return res.data.server;
    } catch (err) {
      if (err instanceof OpenStackApiError && err.status === 404) return null;
      throw err;
    }
  }
}

/** A server's addresses of one kind, fixed first as Nova lists them. Pure. */
export function serverAddresses(s: NovaServer, kind?: 'fixed' | 'floating'): string[] {
  return Object.values(s.addresses)
    .flat()
    .filter((a) => kind === undefined || a['OS-EXT-IPS:type'] === kind)
    .map((a) => a.addr);
}
