/**
 * Cinder's volume list (wire reference D.1): all_tenants (ignored for non-admins), limit
 * capped at osapi_max_limit, keyset pagination by marker with `volumes_links` whenever a
 * page is full, sort keys with Cinder's default tie-breakers, and the filters the poller and
 * tests use. Pure over the in-memory state.
 */
import type { HttpResponse } from './http-service.js';
import {
  atLeast,
  cinderFault,
  detailView,
  summaryView,
  type Microversion,
  type ViewContext,
} from './cinder-views.js';
import type { EmulatorState, EmuVolume } from './state.js';

/** `osapi_max_limit`: the default and the cap of `limit`. */
export const OSAPI_MAX_LIMIT = 1000;

/** What a list request needs to know about its caller. */
export interface ListRequest {
  query: URLSearchParams;
  projectId: string | null;
  isAdmin: boolean;
  mv: Microversion;
  view: ViewContext;
  /** The request path up to and including `/v3[/<project>]`. */
  prefix: string;
  detail: boolean;
}

const KNOWN_LIST_PARAMS = new Set([
  'all_tenants',
  'limit',
  'marker',
  'offset',
  'sort',
  'sort_key',
  'sort_dir',
  'with_count',
  'metadata',
  'status',
  'name',
  'project_id',
  'created_at',
  'updated_at',
]);

/** Cinder's time comparison operators (`api/common.py` get_time_comparsion_operators). */
const TIME_OPERATORS: Readonly<Record<string, (t: number, at: number) => boolean>> = {
  gt: (t, at) => t > at,
  gte: (t, at) => t >= at,
  eq: (t, at) => t === at,
  neq: (t, at) => t !== at,
  lt: (t, at) => t < at,
  lte: (t, at) => t <= at,
};

/**
 * A `created_at`/`updated_at` filter from 3.60 (`api/v3/volumes.py`
 * `_handle_time_comparison_filters`): comma-separated `op:ISO-8601` units, all of which must
 * hold; an unknown operator or a time that does not parse is a 400. A NULL time matches
 * nothing (a SQL comparison). A predicate, or the 400's message.
 */
function timeFilter(value: string): ((t: Date | null) => boolean) | string {
  const units: [(t: number, at: number) => boolean, number][] = [];
  for (const unit of value.split(',')) {
    const colon = unit.indexOf(':');
    const op = colon < 0 ? unit : unit.slice(0, colon);
    const cmp = TIME_OPERATORS[op];
    if (cmp === undefined) return `Invalid ${op} operator`;
    const text = colon < 0 ? unit : unit.slice(colon + 1);
    // parse_isotime: a date and time, optionally with fractions and a zone (none: UTC).
    const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
    const at = m === null ? NaN : Date.parse(m[3] === undefined ? `${text}Z` : text);
    if (Number.isNaN(at)) return `Invalid ${text} value`;
    units.push([cmp, at]);
  }
  return (t) => t !== null && units.every(([cmp, at]) => cmp(t.getTime(), at));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A dict of strings, or null. */
export function stringDict(v: unknown): Record<string, string> | null {
  if (!isObject(v)) return null;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return null;
    out[k] = x;
  }
  return out;
}

/** Cinder's checks on metadata keys and values (`_check_metadata_properties`). */

/** `GET /volumes` (summaries) or `GET /volumes/detail` for the caller in `r`. */
export function listVolumes(state: EmulatorState, r: ListRequest): HttpResponse {
  const detail = r.detail;
  const q = r.query;
  // all_tenants is silently ignored for a non-admin token (wire reference D.1).
  const allTenants = r.isAdmin && ['1', 'true', 'True'].includes(q.get('all_tenants') ?? '');
  const limitText = q.get('limit');
  let limit = OSAPI_MAX_LIMIT;
  if (limitText !== null) {
    if (!/^-?\d+$/.test(limitText)) return cinderFault(400, 'limit param must be an integer');
    const n = Number(limitText);
    if (n < 0) return cinderFault(400, 'limit param must be positive');
    limit = Math.min(n, OSAPI_MAX_LIMIT);
  }
  const offsetText = q.get('offset');
  const offset = offsetText === null ? 0 : Number(offsetText);
  if (!Number.isInteger(offset) || offset < 0) {
    return cinderFault(400, 'offset param must be an integer');
  }
  const sort = sortKeys(q);
  if (typeof sort === 'string') return cinderFault(400, sort);

  let items = [...state.volumes.values()].filter((v) => allTenants || v.projectId === r.projectId);
  for (const [k, val] of q.entries()) {
    if (!KNOWN_LIST_PARAMS.has(k)) {
      // Admins may filter on anything; an unknown column yields an empty list, not a 400.
      if (r.isAdmin) items = [];
      continue;
    }
    if (k === 'created_at' || k === 'updated_at') {
      // Before 3.60 Cinder drops these filters (MV_ADDED_FILTERS) and lists everything.
      if (!atLeast(r.mv, 60)) continue;
      const match = timeFilter(val);
      if (typeof match === 'string') return cinderFault(400, match);
      items = items.filter((v) => match(k === 'created_at' ? v.createdAt : v.updatedAt));
    }
    if (k === 'status') items = items.filter((v) => v.status === val);
    if (k === 'name') items = items.filter((v) => v.name === val);
    if (k === 'project_id' && allTenants) items = items.filter((v) => v.projectId === val);
    if (k === 'metadata') {
      let want: unknown;
      try {
        want = JSON.parse(val);
      } catch {
        want = null;
      }
      const dict = stringDict(want);
      items =
        dict === null
          ? []
          : items.filter((v) => Object.entries(dict).every(([mk, mv]) => v.metadata[mk] === mv));
    }
  }
  items.sort((a, b) => compareVolumes(a, b, sort));
  const total = items.length;

  const marker = q.get('marker');
  if (marker !== null) {
    const mvol = state.volumes.get(marker);
    if (mvol === undefined) return cinderFault(404, `Marker ${marker} could not be found.`);
    items = items.filter((v) => compareVolumes(v, mvol, sort) > 0);
  }
  items = items.slice(offset, offset + limit);

  const body: Record<string, unknown> = {
    volumes: items.map((v) => (detail ? detailView(v, r.view) : summaryView(v, r.view))),
  };
  const last = items[items.length - 1];
  if (items.length >= limit && last !== undefined) {
    const params = new URLSearchParams(q);
    params.set('marker', last.id);
    body['volumes_links'] = [
      { rel: 'next', href: `${r.prefix}/volumes${detail ? '/detail' : ''}?${params.toString()}` },
    ];
  }
  if (atLeast(r.mv, 45) && ['true', '1', 'True'].includes(q.get('with_count') ?? '')) {
    body['count'] = total;
  }
  return { status: 200, body };
}

function sortKeys(q: URLSearchParams): [keyof EmuVolume, 1 | -1][] | string {
  const columns: Record<string, keyof EmuVolume> = {
    created_at: 'createdAt',
    updated_at: 'updatedAt',
    id: 'id',
    name: 'name',
    display_name: 'name',
    size: 'size',
    status: 'status',
  };
  const sort = q.get('sort');
  if (sort !== null && (q.has('sort_key') || q.has('sort_dir'))) {
    return "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.";
  }
  const specs =
    sort !== null
      ? sort.split(',').map((s) => s.split(':'))
      : [[q.get('sort_key') ?? 'created_at', q.get('sort_dir') ?? 'desc']];
  const out: [keyof EmuVolume, 1 | -1][] = [];
  for (const [k, d] of specs) {
    const col = columns[k ?? ''];
    if (col === undefined) return `Invalid input received: Invalid sort key ${k ?? ''}`;
    if (d !== undefined && d !== 'asc' && d !== 'desc') {
      return `Invalid input received: Invalid sort dir ${d}`;
    }
    out.push([col, d === 'asc' ? 1 : -1]);
  }
  // Cinder appends the default keys created_at and id with the first key's direction.
  const dir = out[0]?.[1] ?? -1;
  if (!out.some(([c]) => c === 'createdAt')) out.push(['createdAt', dir]);
  if (!out.some(([c]) => c === 'id')) out.push(['id', dir]);
  return out;
}

function compareValues(a: unknown, b: unknown): number {
  if (a instanceof Date || b instanceof Date) {
    const x = a instanceof Date ? a.getTime() : -Infinity;
    const y = b instanceof Date ? b.getTime() : -Infinity;
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as string | number) < (b as string | number) ? -1 : 1;
}

/** Keyset order: the marker semantics of a SQL `ORDER BY ... WHERE (keys) > (marker keys)`. */
function compareVolumes(a: EmuVolume, b: EmuVolume, sort: [keyof EmuVolume, 1 | -1][]): number {
  for (const [col, dir] of sort) {
    const c = compareValues(a[col], b[col]);
    if (c !== 0) return c * dir;
  }
  return 0;
}
