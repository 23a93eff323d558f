/**
 * The Cinder v3 calls this service makes (wire reference D): the paginated detail list over
 * all projects, one volume, create (restore targets), metadata writes and the admin action
 * `os-reset_status` (a restore's target is held in `maintenance`). Every request carries the
 * `OpenStack-API-Version` header.
 */
import { OpenStackApiError } from './api-error.js';
import type { KeystoneSession } from './keystone.js';

/**
 * The microversion we ask for. Everything the poller reads exists since 3.0; 3.59 (Train)
 * keeps older clouds working while still being explicit.
 */
export const CINDER_MICROVERSION = '3.59';

/** The microversion (3.x) from which the volume list filters on `updated_at`. */
export const TIME_FILTER_MICROVERSION = 60;

/** The minor number of a `3.N` microversion (0 when it is not one). */
function minorOf(microversion: string): number {
  const m = /^3\.(\d+)$/.exec(microversion);
  return m === null ? 0 : Number(m[1]);
}

/** osapi_max_limit's default: Cinder caps `limit` there anyway. */
export const DEFAULT_PAGE_SIZE = 1000;

/** A volume as `GET /volumes/detail` returns it (the fields this service reads). */
export interface CinderVolume {
  id: string;
  name: string | null;
  status: string;
  size: number;
  bootable: string | boolean;
  volume_type: string | null;
  metadata: Record<string, string>;
  attachments: {
    server_id?: string;
    attachment_id?: string;
    device?: string | null;
    host_name?: string | null;
  }[];
  created_at?: string;
  updated_at: string | null;
  'os-vol-tenant-attr:tenant_id'?: string;
  /** Admin only. */
  'os-vol-host-attr:host'?: string | null;
  /** Admin only. */
  'os-vol-mig-status-attr:name_id'?: string | null;
  [key: string]: unknown;
}

/** One page and where the next one starts (null: this was the last). */
export interface VolumePage {
  volumes: CinderVolume[];
  nextMarker: string | null;
}

interface ListBody {
  volumes?: unknown;
  volumes_links?: { rel?: string; href?: string }[];
}

/** A Cinder v3 client over a Keystone session. */
export class CinderClient {
  private readonly microversion: string;

  constructor(
    private readonly session: KeystoneSession,
    options: { microversion?: string } = {},
  ) {
    this.microversion = options.microversion ?? CINDER_MICROVERSION;
  }

  private headers(): Record<string, string> {
    return { 'OpenStack-API-Version': `volume ${this.microversion}` };
  }

  /**
   * One page of `GET /volumes/detail?all_tenants=1`, oldest first, after `marker`. With
   * `updatedSince`, only volumes whose `updated_at` is at or after it (`updated_at=gte:…`,
   * which needs microversion 3.60: asked for this request; a cloud older than Ussuri
   * answers 406).
   */
  async listVolumesPage(
    args: {
      marker?: string | null;
      limit?: number;
      updatedSince?: Date;
      signal?: AbortSignal;
    } = {},
  ): Promise<VolumePage> {
    const params: Record<string, string | number> = {
      all_tenants: 1,
      limit: args.limit ?? DEFAULT_PAGE_SIZE,
      // A stable order: new volumes land at the end instead of shifting earlier pages.
      sort: 'created_at:asc,id:asc',
    };
    if (args.marker !== undefined && args.marker !== null) params['marker'] = args.marker;
    let headers = this.headers();
    if (args.updatedSince !== undefined) {
      params['updated_at'] = `gte:${args.updatedSince.toISOString()}`;
      // Before 3.60 Cinder drops the filter silently and lists every volume.
      if (minorOf(this.microversion) < TIME_FILTER_MICROVERSION) {
        headers = { 'OpenStack-API-Version': `volume 3.${TIME_FILTER_MICROVERSION}` };
      }
    }
    const res = await this.session.request<ListBody>('block-storage', {
      method: 'GET',
      path: 'volumes/detail',
      params,
      headers,
      ...(args.signal === undefined ? {} : { signal: args.signal }),
    });
    const vols = res.data.volumes;
    if (!Array.isArray(vols)) {
      throw new OpenStackApiError(
        'OPENSTACK_API_ERROR',
        'Cinder answered a volume list without a "volumes" array',
        {
          status: res.status,
          service: 'cinder',
        },
      );
    }
    const volumes = vols as CinderVolume[];
    const next = res.data.volumes_links?.find((l) => l.rel === 'next');
    let nextMarker: string | null = null;
    if (next !== undefined) {
      // The href may name a public or proxied host; only its marker is used, with our base.
      const fromHref = next.href === undefined ? null : markerOf(next.href);
      nextMarker = fromHref ?? volumes[volumes.length - 1]?.id ?? null;
    }
    return { volumes, nextMarker };
  }

  /**
   * Every page to the end (the last may be empty). `beforePage` runs before each page's
   * request (a caller's rate limit).
   */
  async *listAllVolumes(
    args: {
      limit?: number;
      updatedSince?: Date;
      signal?: AbortSignal;
      beforePage?: () => Promise<void>;
    } = {},
  ): AsyncGenerator<CinderVolume[]> {
    const { beforePage, ...pageArgs } = args;
    let marker: string | null = null;
    const seenMarkers = new Set<string>();
    for (;;) {
      await beforePage?.();
      const page: VolumePage = await this.listVolumesPage({ ...pageArgs, marker });
      yield page.volumes;
      if (page.nextMarker === null) return;
      if (seenMarkers.has(page.nextMarker)) {
        throw new OpenStackApiError(
          'OPENSTACK_API_ERROR',
          `Cinder pagination loops at marker ${page.nextMarker}`,
          {
            status: null,
            service: 'cinder',
          },
        );
      }
      seenMarkers.add(page.nextMarker);
      marker = page.nextMarker;
    }
  }

  /** `GET /volumes/{id}`; null when Cinder answers 404. */
  async getVolume(id: string, signal?: AbortSignal): Promise<CinderVolume | null> {
    try {
      const res = await this.session.request<{ volume: CinderVolume }>('block-storage', {
        method: 'GET',
        path: `volumes/${encodeURIComponent(id)}`,
        headers: this.headers(),
        ...(signal === undefined ? {} : { signal }),
      });
      return res.data.volume;
    } catch (err) {
      if (err instanceof OpenStackApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** `POST /volumes` (answers 202 with status `creating`). */
  async createVolume(spec: {
    size: number;
    name?: string;
    description?: string;
    volumeType?: string;
    availabilityZone?: string;
    metadata?: Record<string, string>;
  }): Promise<CinderVolume> {
    const res = await this.session.request<{ volume: CinderVolume }>('block-storage', {
      method: 'POST',
      path: 'volumes',
      headers: this.headers(),
      data: {
        volume: {
          size: spec.size,
          ...(spec.name === undefined ? {} : { name: spec.name }),
          ...(spec.description === undefined ? {} : { description: spec.description }),
          ...(spec.volumeType === undefined ? {} : { volume_type: spec.volumeType }),
          ...(spec.availabilityZone === undefined
            ? {}
            : { availability_zone: spec.availabilityZone }),
          ...(spec.metadata === undefined ? {} : { metadata: spec.metadata }),
        },
      },
    });
    return res.data.volume;
  }

  /** `POST /volumes/{id}/metadata`: merges the given keys (no notification is sent). */
  async mergeMetadata(
    id: string,
    metadata: Record<string, string>,
  ): Promise<Record<string, string>> {
    const res = await this.session.request<{ metadata: Record<string, string> }>('block-storage', {
      method: 'POST',
      path: `volumes/${encodeURIComponent(id)}/metadata`,
      headers: this.headers(),
      data: { metadata },
    });
    return res.data.metadata;
  }

  /**
   * `POST /volumes/{id}/action` with `{"os-reset_status": {"status": …}}`: sets the volume's
   * status in Cinder's database, nothing else (no driver call, attachments untouched).
   * Admin only: a token without the admin role gets 403 (policy
   * `volume_extension:volume_admin_actions:reset_status`); Cinder answers 202 without a
   * body, 404 for an unknown volume, 400 for a status outside the admin API's list
   * (creating, available, deleting, error, error_deleting, error_managing, managing,
   * attaching, in-use, detaching, maintenance: cinder/api/contrib/admin_actions.py).
   */
  async resetStatus(id: string, status: string, signal?: AbortSignal): Promise<void> {
    await this.session.request<unknown>('block-storage', {
      method: 'POST',
      path: `volumes/${encodeURIComponent(id)}/action`,
      headers: this.headers(),
      data: { 'os-reset_status': { status } },
      ...(signal === undefined ? {} : { signal }),
    });
  }
}

function markerOf(href: string): string | null {
  try {
    return new URL(href, 'http://placeholder.invalid').searchParams.get('marker');
  } catch {
    return null;
  }
}
