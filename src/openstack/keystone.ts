/**
 * A Keystone v3 session: authenticates with a password or an application credential,
 * caches the token until shortly before `expires_at`, renews it once when a service answers
 * 401, and picks service endpoints from the token's catalog. Tokens and secrets are never
 * logged; errors carry no request objects.
 */
import { readFileSync } from 'node:fs';
import type { AxiosResponse } from 'axios';
import { AppError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type {
  ApplicationCredentialAuth,
  OpenStackCredentials,
  PasswordAuth,
} from '../config/openstack-credentials.js';
import { OpenStackApiError } from './api-error.js';
import {
  COMPUTE_TYPES,
  joinEndpoint,
  selectBlockStorage,
  selectEndpoint,
  type CatalogService,
} from './catalog.js';
import {
  DEFAULT_RETRY,
  requestWithRetry,
  tlsAgents,
  type RetryPolicy,
  type TlsAgents,
} from './http-retry.js';

/** The services this project talks to, by the catalog they are found in. */
export type ServiceKind = 'block-storage' | 'compute';

/** A token and what came with it. */
export interface KeystoneToken {
  /** The X-Subject-Token value. Secret: never log it. */
  readonly value: string;
  expiresAt: Date;
  issuedAt: Date;
  projectId: string | null;
  userId: string;
  roles: string[];
  catalog: CatalogService[];
}

/** What Keystone says of a token it validated for us (never the token itself). */
export interface ValidatedToken {
  userId: string;
  /** Null for an unscoped or domain-scoped token. */
  projectId: string | null;
  roles: string[];
  expiresAt: Date;
}

export interface KeystoneSessionOptions {
  credentials: OpenStackCredentials;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Renew this long before `expires_at` (capped at a quarter of the lifetime); 120 s. */
  renewBeforeSeconds?: number;
  /** Use these URLs instead of the catalog's (an operator override). */
  endpointOverrides?: Partial<Record<ServiceKind, string>>;
  now?: () => number;
}

/** One request to a service, relative to its endpoint. */
export interface ServiceRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the endpoint, e.g. `volumes/detail`. */
  path: string;
  params?: Record<string, string | number>;
  data?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** The JSON body of `POST /v3/auth/tokens` for the given auth. Pure. */
export function authRequestBody(auth: PasswordAuth | ApplicationCredentialAuth): unknown {
  const domain = (name?: string, id?: string) =>
    id !== undefined ? { id } : name !== undefined ? { name } : undefined;
  const userRef = (a: {
    username?: string;
    userId?: string;
    userDomainName?: string;
    userDomainId?: string;
  }) =>
    a.userId !== undefined
      ? { id: a.userId }
      : { name: a.username, domain: domain(a.userDomainName, a.userDomainId) };

  if (auth.type === 'application_credential') {
    const ac: Record<string, unknown> = { secret: auth.applicationCredentialSecret };
    if (auth.applicationCredentialId !== undefined) ac['id'] = auth.applicationCredentialId;
    else {
      ac['name'] = auth.applicationCredentialName;
      ac['user'] = userRef(auth);
    }
    // No scope: an application credential carries its own, and Keystone refuses one.
    return {
      auth: { identity: { methods: ['application_credential'], application_credential: ac } },
    };
  }
  const body: Record<string, unknown> = {
    identity: {
      methods: ['password'],
      password: { user: { ...userRef(auth), password: auth.password } },
    },
  };
  if (auth.projectId !== undefined) body['scope'] = { project: { id: auth.projectId } };
  else if (auth.projectName !== undefined) {
    body['scope'] = {
      project: {
        name: auth.projectName,
        domain: domain(auth.projectDomainName, auth.projectDomainId),
      },
    };
  }
  return { auth: body };
}

/** `http://h:5000` and `http://h:5000/v3` both lead to `.../v3/auth/tokens`. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

interface TokenBody {
  token?: {
    expires_at?: string;
    issued_at?: string;
    project?: { id?: string };
    user?: { id?: string };
    roles?: { name?: string }[];
    catalog?: CatalogService[];
  };
}

/** A Keystone session shared by the Cinder and Nova clients of one process. */
export class KeystoneSession {
  private current: KeystoneToken | null = null;
  private inflight: Promise<KeystoneToken> | null = null;
  private readonly logger: Logger;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private readonly tls: TlsAgents | undefined;
  /** How many tokens this session obtained (tests and metrics). */
  authentications = 0;

  constructor(private readonly options: KeystoneSessionOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'keystone' });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.now = options.now ?? Date.now;
    const c = options.credentials;
    if (c.caFile !== undefined || c.insecure === true) {
      let ca: Buffer | undefined;
      if (c.caFile !== undefined) {
        try {
          ca = readFileSync(c.caFile);
        } catch (err) {
          throw new AppError(
            'CONFIG_INVALID',
            `cannot read the CA bundle ${c.caFile} (OS_CACERT, ${c.source}): ${(err as Error).message}`,
          );
        }
      }
      if (c.insecure === true) {
        this.logger.warn('TLS verification of OpenStack APIs is off (OS_INSECURE / verify: false)');
      }
      this.tls = tlsAgents({ ...(ca === undefined ? {} : { ca }), insecure: c.insecure === true });
    }
  }

  get credentials(): OpenStackCredentials {
    return this.options.credentials;
  }

  /** A valid token: the cached one, or a new one (concurrent callers share one request). */
  async token(signal?: AbortSignal): Promise<KeystoneToken> {
    const t = this.current;
    if (t !== null && !this.needsRenewal(t)) return t;
    this.inflight ??= this.authenticate(signal).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Forgets `token` (after a 401), so the next call authenticates again. */
  invalidate(token: KeystoneToken): void {
    if (this.current === token) this.current = null;
  }

  /** The endpoint URL of a service for the current token (no trailing slash). */
  async endpoint(kind: ServiceKind, signal?: AbortSignal): Promise<string> {
    return this.endpointFrom(kind, await this.token(signal));
  }

  /**
   * Sends a request to a service with the session's token; on 401 authenticates once more
   * and repeats. 5xx/429/timeouts are retried inside (see http-retry.ts).
   */
  async request<T>(kind: ServiceKind, req: ServiceRequest): Promise<AxiosResponse<T>> {
    const service = kind === 'block-storage' ? 'cinder' : 'nova';
    for (let renewed = false; ; renewed = true) {
      const token = await this.token(req.signal);
      const endpoint = this.endpointFrom(kind, token);
      const url = joinEndpoint(endpoint, req.path);
      try {
        return await requestWithRetry<T>(
          {
            method: req.method,
            url,
            ...(req.params === undefined ? {} : { params: req.params }),
            ...(req.data === undefined ? {} : { data: req.data }),
            headers: { Accept: 'application/json', ...req.headers, 'X-Auth-Token': token.value },
          },
          {
            service,
            policy: this.retry,
            logger: this.logger,
            label: url,
            ...(this.tls === undefined ? {} : { tls: this.tls }),
            ...(req.signal === undefined ? {} : { signal: req.signal }),
          },
        );
      } catch (err) {
        if (!(err instanceof OpenStackApiError) || err.status !== 401) throw err;
        this.invalidate(token);
        if (renewed) {
          throw new OpenStackApiError(
            'OPENSTACK_AUTH_FAILED',
            `${service} refused a freshly issued token (401) for ${req.method} ${url}`,
            { status: 401, service, cause: err },
          );
        }
        this.logger.info({ service }, `${service} answered 401; re-authenticating once`);
      }
    }
  }

  /**
   * Validates someone else's token (`GET /v3/auth/tokens`, our token in X-Auth-Token, theirs
   * in X-Subject-Token, `?nocatalog`). Resolves with what Keystone says of it, or null when
   * Keystone does not know it or it expired (404; also 401/403 on the subject, which some
   * deployments answer). Our own token is renewed once if Keystone refuses it.
   */
  async validateToken(
    subject: string,
    options: { signal?: AbortSignal; retry?: Partial<RetryPolicy> } = {},
  ): Promise<ValidatedToken | null> {
    const c = this.options.credentials;
    const url = tokensUrl(c.authUrl);
    for (let renewed = false; ; renewed = true) {
      const own = await this.token(options.signal);
      let res: AxiosResponse<TokenBody>;
      try {
        res = await requestWithRetry<TokenBody>(
          {
            method: 'GET',
            url,
            params: { nocatalog: '' },
            headers: {
              Accept: 'application/json',
              'X-Auth-Token': own.value,
              'X-Subject-Token': subject,
            },
          },
          {
            service: 'keystone',
            policy: { ...this.retry, ...options.retry },
            logger: this.logger,
            label: url,
            ...(this.tls === undefined ? {} : { tls: this.tls }),
            ...(options.signal === undefined ? {} : { signal: options.signal }),
          },
        );
      } catch (err) {
        if (!(err instanceof OpenStackApiError)) throw err;
        if (err.status === 404) return null;
        if (err.status === 401 && !renewed) {
          // Our own token was revoked or expired early: get a new one and ask again.
          this.invalidate(own);
          continue;
        }
        throw err;
      }
      const body = res.data.token;
      const expires = body?.expires_at === undefined ? NaN : Date.parse(body.expires_at);
      if (body === undefined || Number.isNaN(expires) || typeof body.user?.id !== 'string') {
        throw new OpenStackApiError(
          'OPENSTACK_API_ERROR',
          `Keystone at ${url} answered ${res.status} to a token validation without a usable token body`,
          { status: res.status, service: 'keystone' },
        );
      }
      return {
        userId: body.user.id,
        projectId: body.project?.id ?? null,
        roles: (body.roles ?? []).map((r) => r.name ?? '').filter((r) => r.length > 0),
        expiresAt: new Date(expires),
      };
    }
  }

  private needsRenewal(t: KeystoneToken): boolean {
    const lifetime = t.expiresAt.getTime() - t.issuedAt.getTime();
    const margin = Math.min((this.options.renewBeforeSeconds ?? 120) * 1000, lifetime / 4);
    return this.now() >= t.expiresAt.getTime() - margin;
  }

  private endpointFrom(kind: ServiceKind, token: KeystoneToken): string {
    const override = this.options.endpointOverrides?.[kind];
    if (override !== undefined) return override.replace(/\/+$/, '');
    const c = this.options.credentials;
    const found =
      kind === 'block-storage'
        ? selectBlockStorage(token.catalog, c.interface, c.regionName)
        : selectEndpoint(token.catalog, {
            types: COMPUTE_TYPES,
            interface: c.interface,
            ...(c.regionName === undefined ? {} : { region: c.regionName }),
          });
    if ('reason' in found) {
      throw new AppError('CONFIG_INVALID', `Keystone catalog (${c.source}): ${found.reason}`);
    }
    return found.url;
  }

  private async authenticate(signal?: AbortSignal): Promise<KeystoneToken> {
    const c = this.options.credentials;
    const url = tokensUrl(c.authUrl);
    let res: AxiosResponse<TokenBody>;
    try {
      res = await requestWithRetry<TokenBody>(
        {
          method: 'POST',
          url,
          data: authRequestBody(c.auth),
          headers: { 'Content-Type': 'application/json' },
        },
        {
          service: 'keystone',
          policy: this.retry,
          logger: this.logger,
          label: url,
          idempotent: true,
          ...(this.tls === undefined ? {} : { tls: this.tls }),
          ...(signal === undefined ? {} : { signal }),
        },
      );
    } catch (err) {
      if (err instanceof OpenStackApiError && (err.status === 401 || err.status === 403)) {
        throw new OpenStackApiError(
          'OPENSTACK_AUTH_FAILED',
          `Keystone at ${c.authUrl} refused the ${c.auth.type} credentials from ${c.source} ` +
            `(${this.who()}): ${err.message}`,
          { status: err.status, service: 'keystone', cause: err },
        );
      }
      throw err;
    }
    const value = res.headers['x-subject-token'] as unknown;
    const body = res.data.token;
    const expires = body?.expires_at === undefined ? NaN : Date.parse(body.expires_at);
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      body === undefined ||
      Number.isNaN(expires)
    ) {
      throw new OpenStackApiError(
        'OPENSTACK_API_ERROR',
        `Keystone at ${url} answered ${res.status} without a usable token`,
        {
          status: res.status,
          service: 'keystone',
        },
      );
    }
    const issued = body.issued_at === undefined ? this.now() : Date.parse(body.issued_at);
    const token = {
      expiresAt: new Date(expires),
      issuedAt: new Date(Number.isNaN(issued) ? this.now() : issued),
      projectId: body.project?.id ?? null,
      userId: body.user?.id ?? '',
      roles: (body.roles ?? []).map((r) => r.name ?? '').filter((r) => r.length > 0),
      catalog: body.catalog ?? [],
    } as KeystoneToken;
    // Not enumerable: a token object that ends up in a log line or JSON leaves the secret out.
    Object.defineProperty(token, 'value', { value, enumerable: false, writable: false });
    this.current = token;
    this.authentications += 1;
    this.logger.info(
      {
        method: c.auth.type,
        projectId: token.projectId,
        expiresAt: body.expires_at,
        roles: token.roles,
      },
      `authenticated to Keystone (${this.who()})`,
    );
    return token;
  }

  /** Who we authenticate as, for messages: names and ids only, never a secret. */
  private who(): string {
    const a = this.options.credentials.auth;
    if (a.type === 'application_credential') {
      return `application credential ${a.applicationCredentialId ?? a.applicationCredentialName ?? '?'}`;
    }
    const project = a.projectId ?? a.projectName;
    return `user ${a.userId ?? a.username ?? '?'}${project === undefined ? '' : `, project ${project}`}`;
  }
}
