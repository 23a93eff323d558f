/**
 * Choosing an endpoint from a Keystone v3 catalog (wire reference C): by service type in
 * order of preference, interface and region; block storage may come with or without the
 * project id in its URL. Pure: no I/O.
 */
import type { EndpointInterface } from '../config/endpoint-interface.js';

export { normalizeInterface, type EndpointInterface } from '../config/endpoint-interface.js';

/** A catalog endpoint as Keystone returns it. */
export interface CatalogEndpoint {
  id?: string;
  interface: string;
  region?: string | null;
  region_id?: string | null;
  url: string;
}

/** A catalog service as Keystone returns it. */
export interface CatalogService {
  type: string;
  name?: string;
  id?: string;
  endpoints: CatalogEndpoint[];
}

/** Cinder's service types, preferred first: the official type, then the v3 alias. */
export const BLOCK_STORAGE_TYPES = ['block-storage', 'volumev3'];
/** Older aliases, usable only when their URL is a v3 one. */
const BLOCK_STORAGE_LEGACY_TYPES = ['volumev2', 'volume', 'block-store'];
export const COMPUTE_TYPES = ['compute'];

/** What the caller wants. */
export interface EndpointQuery {
  types: string[];
  interface: EndpointInterface;
  /** Region name/id; undefined accepts any (the first match). */
  region?: string;
  /** Legacy types accepted only when `legacyFilter(url)` holds. */
  legacyTypes?: string[];
  legacyFilter?: (url: string) => boolean;
}

/** Why no endpoint matched, for a clear configuration error. */
export interface EndpointMiss {
  reason: string;
}

function endpointRegion(ep: CatalogEndpoint): string | null {
  return ep.region_id ?? ep.region ?? null;
}

/** The chosen URL without a trailing slash, or why there is none. */
export function selectEndpoint(
  catalog: CatalogService[],
  q: EndpointQuery,
): { url: string; type: string } | EndpointMiss {
  const candidates: { type: string; legacy: boolean }[] = [
    ...q.types.map((type) => ({ type, legacy: false })),
    ...(q.legacyTypes ?? []).map((type) => ({ type, legacy: true })),
  ];
  for (const cand of candidates) {
    for (const svc of catalog.filter((s) => s.type === cand.type)) {
      const ep = svc.endpoints.find(
        (e) =>
          e.interface === q.interface &&
          (q.region === undefined || endpointRegion(e) === q.region) &&
          (!cand.legacy || q.legacyFilter === undefined || q.legacyFilter(e.url)),
      );
      if (ep !== undefined) return { url: ep.url.replace(/\/+$/, ''), type: svc.type };
    }
  }
  const present = catalog
    .filter((s) => candidates.some((c) => c.type === s.type))
    .map(
      (s) =>
        `${s.type}: ${s.endpoints.map((e) => `${e.interface}/${endpointRegion(e) ?? '-'}`).join(', ')}`,
    );
  return {
    reason:
      `no ${q.interface} endpoint of type ${candidates.map((c) => c.type).join(' or ')}` +
      `${q.region === undefined ? '' : ` in region ${q.region}`} in the catalog` +
      (present.length > 0 ? ` (found ${present.join('; ')})` : ' (none of these types present)'),
  };
}

/** Block storage endpoint: `block-storage`, then `volumev3`, then a legacy type with `/v3`. */
export function selectBlockStorage(
  catalog: CatalogService[],
  iface: EndpointInterface,
  region?: string,
): { url: string; type: string } | EndpointMiss {
  return selectEndpoint(catalog, {
    types: BLOCK_STORAGE_TYPES,
    interface: iface,
    ...(region === undefined ? {} : { region }),
    legacyTypes: BLOCK_STORAGE_LEGACY_TYPES,
    legacyFilter: (url) => /\/v3(\/|$)/.test(url),
  });
}

/**
 * Joins an endpoint and a resource path. Works for `.../v3` and `.../v3/<project>` alike:
 * Cinder routes exist with and without the project id, so nothing is inserted or doubled.
 */
export function joinEndpoint(endpoint: string, path: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
