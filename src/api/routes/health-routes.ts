/**
 * `/healthz` (the process answers) and `/readyz` (its dependencies answer), without auth:
 * they say nothing about any tenant.
 */
import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../readiness.js';

const checkResult = {
  type: 'object',
  required: ['ok', 'ms'],
  properties: { ok: { type: 'boolean' }, error: { type: 'string' }, ms: { type: 'number' } },
} as const;

const readinessBody = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not ready'] },
    checks: {
      type: 'object',
      required: ['postgres', 'rabbitmq', 'keystone'],
      properties: { postgres: checkResult, rabbitmq: checkResult, keystone: checkResult },
      additionalProperties: checkResult,
    },
  },
} as const;

export function healthRoutes(app: FastifyInstance, readiness: () => Promise<Readiness>): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'The process is alive',
        tags: ['health'],
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
        },
      },
    },
    () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Postgres, RabbitMQ and Keystone answer, and the inventory polls succeed',
        description:
          'Each dependency is named with its outcome (cinder: the inventory polls of this controller); 503 when any fails.',
        tags: ['health'],
        response: { 200: readinessBody, 503: readinessBody },
      },
    },
    async (_req, reply) => {
      const r = await readiness();
      return reply
        .code(r.ready ? 200 : 503)
        .send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
    },
  );
}
