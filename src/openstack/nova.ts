/**
 * Nova `GET /v2.1/servers/{id}` (wire reference E): a server's name, status and addresses,
 * e.g. to reach the instance for application-consistent backups.
 */
import { isIP } from 'node:net';
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

/** Where the service looks for an instance's SSH address, in order (`[ssh] address_from`). */
export type AddressSource =
  { kind: 'floating' } | { kind: 'fixed' } | { kind: 'network'; name: string };

/**
 * Parses `floating,fixed` or `network:NAME,…`: the sources tried in order. Null when the text
 * is not such a list.
 */
export function parseAddressSources(text: string): AddressSource[] | null {
  const out: AddressSource[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === 'floating' || item === 'fixed') out.push({ kind: item });
    else if (/^network:[A-Za-z0-9._-]{1,255}$/.test(item)) {
      out.push({ kind: 'network', name: item.slice('network:'.length) });
    } else return null;
  }
  return out.length === 0 ? null : out;
}

export type InstanceChoice =
  | { ok: true; serverId: string; serverName: string; address: string }
  | { ok: false; serverId: string | null; reason: string };

/** An IPv4 or IPv6 literal (Nova's addresses are; anything else is refused). */
function isIpLiteral(a: string): boolean {
  return isIP(a) !== 0;
}

/**
 * Which address of which server reaches the instance a volume is attached to. Pure. The
 * server must be ACTIVE, belong to the volume's project and list the volume among its
 * attachments (so neither a stale attachment nor another tenant's server is ever used).
 */
export function chooseInstance(
  volume: { id: string; projectId: string; serverId: string | null },
  server: NovaServer | null,
  sources: readonly AddressSource[],
): InstanceChoice {
  const serverId = volume.serverId;
  if (serverId === null) return { ok: false, serverId, reason: 'the volume is not attached' };
  if (server === null) {
    return { ok: false, serverId, reason: `Nova has no server ${serverId}` };
  }
  if (server.tenant_id !== undefined && server.tenant_id !== volume.projectId) {
    return { ok: false, serverId, reason: `server ${serverId} belongs to another project` };
  }
  const attached = server['os-extended-volumes:volumes_attached'];
  if (attached !== undefined && !attached.some((a) => a.id === volume.id)) {
    return {
      ok: false,
      serverId,
      reason: `server ${serverId} does not list the volume as attached`,
    };
  }
  if (server.status !== 'ACTIVE') {
    return { ok: false, serverId, reason: `server ${serverId} is ${server.status}, not ACTIVE` };
  }
  for (const source of sources) {
    const candidates =
      source.kind === 'network'
        ? (server.addresses[source.name] ?? []).map((a) => a.addr)
        : serverAddresses(server, source.kind);
    const address = candidates.find(isIpLiteral);
    if (address !== undefined) {
      return { ok: true, serverId, serverName: server.name, address };
    }
  }
  const tried = sources.map((s) => (s.kind === 'network' ? `network:${s.name}` : s.kind));
  return { ok: false, serverId, reason: `server ${serverId} has no ${tried.join(' or ')} address` };
}
