/**
 * Keystone v3 as in docs/openstack-wire.md section C: password and application-credential
 * authentication, the token id in `X-Subject-Token`, a catalog with project-id templating,
 * and the `{"error": {code, message, title}}` fault shape.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { HttpResponse, RecordedRequest } from './http-service.js';
import { keystoneId, type EmulatorState, type EmuProject, type EmuToken } from './state.js';

/** One endpoint as registered; `url` may hold `%(project_id)s` / `$(project_id)s`. */
export interface CatalogEndpointSpec {
  interface: 'public' | 'internal' | 'admin';
  region: string;
  url: string;
}

/** One catalog service as registered in Keystone. */
export interface CatalogServiceSpec {
  type: string;
  name: string;
  endpoints: CatalogEndpointSpec[];
}

/** Keystone's Python-side timestamps carry microseconds and a `Z`. */
export function keystoneTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function fault(status: number, title: string, message: string): HttpResponse {
  return { status, body: { error: { code: status, message, title } } };
}

/** The answer keystonemiddleware and Keystone give to a missing, bad or expired token. */
export function unauthorized(keystoneUrl: string, message?: string): HttpResponse {
  return {
    status: 401,
    headers: { 'WWW-Authenticate': `Keystone uri="${keystoneUrl}"` },
    body: {
      error: {
        code: 401,
        message: message ?? 'The request you have made requires authentication.',
        title: 'Unauthorized',
      },
    },
  };
}

interface NameRef {
  id?: string;
  name?: string;
  domain?: { id?: string; name?: string };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asRef(v: unknown): NameRef | null {
  if (!isObject(v)) return null;
  const ref: NameRef = {};
  if (typeof v['id'] === 'string') ref.id = v['id'];
  if (typeof v['name'] === 'string') ref.name = v['name'];
  const d = v['domain'];
  if (isObject(d)) {
    ref.domain = {};
    if (typeof d['id'] === 'string') ref.domain.id = d['id'];
    if (typeof d['name'] === 'string') ref.domain.name = d['name'];
  }
  return ref;
}

/** The emulator has the one domain every deployment has: id `default`, name `Default`. */
function domainIdOf(ref: NameRef): string | undefined | null {
  if (ref.domain === undefined) return undefined;
  if (ref.domain.id !== undefined) return ref.domain.id === 'default' ? 'default' : null;
  if (ref.domain.name !== undefined) return ref.domain.name === 'Default' ? 'default' : null;
  return null;
}

/** Keystone's HTTP API over an EmulatorState. */
export class KeystoneApi {
  /** Called with the base URL of Keystone (`http://127.0.0.1:<port>`). */
  constructor(
    private readonly state: EmulatorState,
    private readonly baseUrl: () => string,
    private readonly catalog: () => CatalogServiceSpec[],
  ) {}

  handle = (req: RecordedRequest): HttpResponse => {
    const path = req.path.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '') return this.versions();
    if (req.method === 'GET' && path === '/v3') return { status: 200, body: this.versionDoc() };
    if (path === '/v3/auth/tokens') {
      if (req.method === 'POST') return this.issue(req);
      if (req.method === 'GET') return this.validate(req);
      if (req.method === 'DELETE') return this.revoke(req);
      return fault(405, 'Method Not Allowed', 'The method is not allowed.');
    }
    return fault(404, 'Not Found', 'The resource could not be found.');
  };

  private versionDoc(): Record<string, unknown> {
    return {
      version: {
        id: 'v3.14',
        status: 'stable',
        updated: '2020-04-07T00:00:00Z',
        links: [{ rel: 'self', href: `${this.baseUrl()}/v3/` }],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
        ],
      },
    };
  }

  private versions(): HttpResponse {
    return { status: 300, body: { versions: { values: [this.versionDoc()['version']] } } };
  }

  private issue(req: RecordedRequest): HttpResponse {
    const body = req.body;
    const auth = isObject(body) ? body['auth'] : undefined;
    const identity = isObject(auth) ? auth['identity'] : undefined;
    const methods = isObject(identity) ? identity['methods'] : undefined;
    if (!isObject(auth) || !isObject(identity) || !Array.isArray(methods)) {
      return fault(400, 'Bad Request', "'identity' is a required property");
    }
    const scope = auth['scope'];
    let userId: string;
    let projectId: string | null = null;
    let roles: string[] = [];
    let appCredentialId: string | null = null;

    if (methods.length === 1 && methods[0] === 'application_credential') {
      if (scope !== undefined) {
        return unauthorized(
          this.baseUrl(),
          'Error authenticating with application credential: Application credentials cannot request a scope.',
        );
      }
      const ac = identity['application_credential'];
      if (!isObject(ac) || typeof ac['secret'] !== 'string') {
        return fault(400, 'Bad Request', "'secret' is a required property");
      }
      const found = this.findAppCredential(ac);
      if (found === null || found.secret !== ac['secret']) return unauthorized(this.baseUrl());
      userId = found.userId;
      projectId = found.projectId;
      roles = found.roles;
      appCredentialId = found.id;
    } else if (methods.length === 1 && methods[0] === 'password') {
      const pw = identity['password'];
      const userRef = isObject(pw) ? asRef(pw['user']) : null;
      const password = isObject(pw) && isObject(pw['user']) ? pw['user']['password'] : undefined;
      if (userRef === null || typeof password !== 'string') {
        return fault(400, 'Bad Request', "'password' is a required property");
      }
      if (userRef.id === undefined && userRef.domain === undefined) {
        return fault(400, 'Bad Request', 'Expecting to find domain in user.');
      }
      const domainId = domainIdOf(userRef);
      const user =
        domainId === null
          ? null
          : this.state.findUser({
              ...(userRef.id === undefined ? {} : { id: userRef.id }),
              ...(userRef.name === undefined ? {} : { name: userRef.name }),
              ...(domainId === undefined ? {} : { domainId }),
            });
      if (user === null || user.password !== password) return unauthorized(this.baseUrl());
      userId = user.id;
      if (scope !== undefined) {
        const project = this.scopedProject(scope);
        if (project === 'bad')
          return fault(400, 'Bad Request', 'Expecting to find domain in project.');
        if (project === null) return unauthorized(this.baseUrl());
        const r = user.roles[project.id] ?? [];
        // Keystone refuses a project scope the user holds no role on.
        if (r.length === 0) return unauthorized(this.baseUrl());
        projectId = project.id;
        roles = r;
      }
    } else {
      return unauthorized(this.baseUrl(), 'Unsupported authentication method.');
    }

    const now = this.state.now();
    const token: EmuToken = {
      id: 'gAAAAA' + randomBytes(60).toString('base64url'),
      userId,
      projectId,
      roles,
      methods: methods.map(String),
      issuedAt: now,
      expiresAt: new Date(now.getTime() + this.state.tokenLifetimeSeconds * 1000),
      appCredentialId,
    };
    this.state.tokens.set(token.id, token);
    const noCatalog = req.query.has('nocatalog');
    return {
      status: 201,
      headers: { 'X-Subject-Token': token.id },
      body: { token: this.tokenBody(token, !noCatalog) },
    };
  }

  private validate(req: RecordedRequest): HttpResponse {
    const caller = this.state.validToken(req.headers['x-auth-token'] as string | undefined);
    if (caller === null) return unauthorized(this.baseUrl());
    const subject = this.state.validToken(req.headers['x-subject-token'] as string | undefined);
    // keystone/common/policies/token.py, identity:validate_token: an admin or a service
    // (role `service`) may validate any token; anyone else only their own.
    const privileged = caller.roles.includes('admin') || caller.roles.includes('service');
    if (!privileged && subject?.userId !== caller.userId) {
      return fault(
        403,
        'Forbidden',
        'You are not authorized to perform the requested action: identity:validate_token.',
      );
    }
    if (subject === null) return fault(404, 'Not Found', 'Could not find token.');
    return {
      status: 200,
      headers: { 'X-Subject-Token': subject.id },
      body: { token: this.tokenBody(subject, !req.query.has('nocatalog')) },
    };
  }

  private revoke(req: RecordedRequest): HttpResponse {
    const caller = this.state.validToken(req.headers['x-auth-token'] as string | undefined);
    if (caller === null) return unauthorized(this.baseUrl());
    const subject = req.headers['x-subject-token'];
    if (typeof subject !== 'string' || !this.state.tokens.delete(subject)) {
      return fault(404, 'Not Found', 'Could not find token.');
    }
    return { status: 204 };
  }

  private findAppCredential(ac: Record<string, unknown>) {
    if (typeof ac['id'] === 'string') return this.state.appCredentials.get(ac['id']) ?? null;
    const userRef = asRef(ac['user']);
    if (typeof ac['name'] !== 'string' || userRef === null) return null;
    const domainId = domainIdOf(userRef);
    if (domainId === null) return null;
    const user = this.state.findUser({
      ...(userRef.id === undefined ? {} : { id: userRef.id }),
      ...(userRef.name === undefined ? {} : { name: userRef.name }),
      ...(domainId === undefined ? {} : { domainId }),
    });
    if (user === null) return null;
    for (const c of this.state.appCredentials.values()) {
      if (c.userId === user.id && c.name === ac['name']) return c;
    }
    return null;
  }

  private scopedProject(scope: unknown): EmuProject | null | 'bad' {
    const ref = isObject(scope) ? asRef(scope['project']) : null;
    if (ref === null) return null;
    if (ref.id !== undefined) return this.state.findProject({ id: ref.id });
    if (ref.domain === undefined) return 'bad';
    const domainId = domainIdOf(ref);
    if (domainId === null || domainId === undefined) return null;
    return this.state.findProject({
      ...(ref.name === undefined ? {} : { name: ref.name }),
      domainId,
    });
  }

  private tokenBody(token: EmuToken, withCatalog: boolean): Record<string, unknown> {
    const user = this.state.users.get(token.userId);
    const project = token.projectId === null ? null : this.state.projects.get(token.projectId);
    const body: Record<string, unknown> = {
      methods: token.methods,
      user: {
        id: token.userId,
        name: user?.name,
        domain: { id: 'default', name: 'Default' },
        password_expires_at: null,
      },
      audit_ids: [createHash('sha256').update(token.id).digest('base64url').slice(0, 22)],
      expires_at: keystoneTime(token.expiresAt),
      issued_at: keystoneTime(token.issuedAt),
    };
    if (project !== null && project !== undefined) {
      body['project'] = {
        id: project.id,
        name: project.name,
        domain: { id: 'default', name: 'Default' },
      };
      body['is_domain'] = false;
      body['roles'] = token.roles.map((name) => ({ id: roleId(name), name }));
      if (withCatalog) body['catalog'] = this.renderCatalog(project.id, token.userId);
    }
    if (token.appCredentialId !== null) {
      const ac = this.state.appCredentials.get(token.appCredentialId);
      body['application_credential'] = { id: ac?.id, name: ac?.name, restricted: true };
    }
    return body;
  }

  /** Keystone substitutes project_id/tenant_id/user_id before returning the catalog. */
  private renderCatalog(projectId: string, userId: string): Record<string, unknown>[] {
    return this.catalog().map((svc) => ({
      type: svc.type,
      name: svc.name,
      id: stableId(`svc:${svc.type}:${svc.name}`),
      endpoints: svc.endpoints.map((ep) => ({
        id: stableId(`ep:${svc.type}:${ep.interface}:${ep.region}:${ep.url}`),
        interface: ep.interface,
        region: ep.region,
        region_id: ep.region,
        url: ep.url
          .replaceAll('$(', '%(')
          .replaceAll('%(project_id)s', projectId)
          .replaceAll('%(tenant_id)s', projectId)
          .replaceAll('%(user_id)s', userId),
      })),
    }));
  }
}

const roleIds = new Map<string, string>();
function roleId(name: string): string {
  let id = roleIds.get(name);
  if (id === undefined) {
    id = keystoneId();
    roleIds.set(name, id);
  }
  return id;
}

function stableId(key: string): string {
  return createHash('md5').update(key).digest('hex');
}
