/**
 * The HTTP API of the controller (fastify): `/v1` behind Keystone tokens, `/healthz`,
 * `/readyz`, and the OpenAPI document at `/openapi.json`, generated from the route schemas
 * that also validate requests and serialize answers.
 *
 * Request order for /v1: the auth hook runs on `onRequest`, before the body is read, so a
 * request without a valid token is refused (401) without its body being parsed; then the
 * body limit and the schema validation; then the route, whose look-ups answer an object of
 * another project as a missing one.
 */
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { AppError } from '../errors.js';
import { isRecord } from '../is-record.js';
import { silentLogger, type Logger } from '../log.js';
import { NO_PROJECT_QUOTA, type ProjectQuota } from '../policy/project-quota.js';
import type { ApiContext } from './api-context.js';
import { DEFAULT_ROLES, type RoleNames } from './caller.js';
import { clientErrorHandler, errorHandlers } from './http-errors.js';
import { lingerOnClose } from './lingering-close.js';
import type { Readiness } from './readiness.js';
import { backupRoutes } from './routes/backup-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { jobRoutes } from './routes/job-routes.js';
import { volumeRoutes } from './routes/volume-routes.js';
import { SHARED_SCHEMAS } from './schemas.js';
import type { TokenValidator } from './token-validator.js';

export interface ApiServerOptions {
  /** Keystone's public URL, named in `WWW-Authenticate: Keystone uri="..."` of a 401. */
  keystoneUrl: string;
  roles?: Partial<RoleNames>;
  /** Largest request body accepted (bytes); default 16 KiB. */
  bodyLimitBytes?: number;
  /** Grace after a due time before a volume counts as overdue; default 3600 s. */
  overdueGraceSeconds?: number;
  /** Minimum time between a volume's backups for a non-admin back up now; default 3600 s. */
  manualMinIntervalSeconds?: number;
  /** `[restore] set_maintenance`: hold a restore's target in maintenance; default true. */
  restoreSetsMaintenance?: boolean;
  /** The per-project byte quota a non-admin back up now fits; default none. */
  quota?: ProjectQuota;
}

export interface ApiServerDeps {
  db: pg.Pool;
  tokens: TokenValidator;
  readiness: () => Promise<Readiness>;
  /** Cinder lookups, for restore targets (absent: restores answer 503). */
  cinderLookup?: VolumeLookup;
  /** Cinder's os-reset_status (CinderClient.resetStatus), to hold restore targets. */
  cinderResetStatus?: (volumeId: string, status: string) => Promise<void>;
  logger?: Logger;
}

/** Builds the app (not listening yet: `inject()` in tests, `listen()` in the controller). */
export async function buildApiServer(
  options: ApiServerOptions,
  deps: ApiServerDeps,
): Promise<FastifyInstance> {
  const logger = (deps.logger ?? silentLogger).child({ component: 'api' });
  const wwwAuthenticate = `Keystone uri="${options.keystoneUrl}"`;
  const handlers = errorHandlers(logger, wwwAuthenticate);
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes ?? 16 * 1024,
    return503OnClosing: true,
    // Requests refused before routing answer in the API's error shape too: a URL whose
    // percent-escapes do not decode (the router), and what Node's HTTP parser refuses.
    frameworkErrors: (err, req, reply) => {
      handlers.onError(err, req, reply);
    },
    clientErrorHandler: clientErrorHandler(logger),
    ajv: {
      // Refuse what is not in a schema instead of silently dropping it.
      customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false },
    },
  });
  // A refusal sent before the body was read (413) must reach a client still sending it.
  lingerOnClose(app.server);
  const roles: RoleNames = { ...DEFAULT_ROLES, ...options.roles };
  const ctx: ApiContext = {
    db: deps.db,
    roles,
    overdueGraceSeconds: options.overdueGraceSeconds ?? 3600,
    manualMinIntervalSeconds: options.manualMinIntervalSeconds ?? 3600,
    quota: options.quota ?? NO_PROJECT_QUOTA,
    cinderLookup: deps.cinderLookup ?? null,
    cinderResetStatus: deps.cinderResetStatus ?? null,
    restoreSetsMaintenance: options.restoreSetsMaintenance ?? true,
    logger,
  };
  app.setErrorHandler(handlers.onError);
  app.setNotFoundHandler(handlers.onNotFound);
  app.decorateRequest('caller', null);
  // Clients that POST without a body often still say it is a form (curl -d '', axios):
  // accept that empty body as no body; any real form content is not JSON, so refused.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_req, body, done) => {
      if (body === '') done(null, undefined);
      else {
        done(
          new AppError('INVALID_ARGUMENT', 'request bodies are JSON (application/json)', {
            details: { status: 415 },
          }),
        );
      }
    },
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'cinder-lvm-backup',
        version: 'v1',
        description:
          'Backups of Cinder LVM volumes: status, back up now, verify, restore. Every /v1 ' +
          'call needs a Keystone token in X-Auth-Token; a project-scoped token sees only ' +
          'its project.',
      },
      components: {
        securitySchemes: {
          keystone: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`,
    },
  });
  for (const s of SHARED_SCHEMAS) app.addSchema(s);

  healthRoutes(app, deps.readiness);
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  await app.register(
    (v1, _opts, done) => {
      v1.addHook('onRequest', async (req) => {
        const header = req.headers['x-auth-token'];
        const token = Array.isArray(header) ? undefined : header;
        const caller = await deps.tokens.authenticate(token);
        if (caller === null) {
          throw new AppError(
            'UNAUTHENTICATED',
            token === undefined
              ? 'this call needs a Keystone token in X-Auth-Token'
              : 'Keystone does not accept this token (invalid or expired)',
          );
        }
        req.caller = caller;
      });
      // ajv's coercion turns a query value such as `1e309` into Infinity and then checks
      // minimum and maximum only on finite numbers, so `?limit=1e309` passed validation
      // and failed in SQL: a 500 (test/reliability/bad-input.test.ts).
      v1.addHook('preHandler', (req, _reply, done) => {
        const query: unknown = req.query;
        const bad = isRecord(query)
          ? Object.entries(query).find(([, v]) => typeof v === 'number' && !Number.isFinite(v))
          : undefined;
        if (bad === undefined) done();
        else
          done(new AppError('INVALID_ARGUMENT', `querystring/${bad[0]} must be a finite number`));
      });
      v1.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ keystone: [] }] };
      });
      volumeRoutes(v1, ctx);
      backupRoutes(v1, ctx);
      jobRoutes(v1, ctx);
      done();
    },
    { prefix: '/v1' },
  );
  return app;
}
