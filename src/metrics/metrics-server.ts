/**
 * `/metrics` in the Prometheus text format on its own listen address, so it can stay on an
 * internal network while the API faces users. Nothing else is served there.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Queryable } from '../db/queryable.js';
import { silentLogger, type Logger } from '../log.js';
import { registerCatalogMetrics } from './catalog-metrics.js';
import { registerControllerMetrics, type ControllerMetrics } from './controller-metrics.js';

export interface MetricsServer {
  app: FastifyInstance;
  registry: Registry;
  /** Hooks for the controller's consumer and poller. */
  counters: ControllerMetrics;
}

export function buildMetricsServer(o: {
  db: Queryable;
  overdueGraceSeconds?: number;
  logger?: Logger;
}): MetricsServer {
  const logger = (o.logger ?? silentLogger).child({ component: 'metrics' });
  const registry = new Registry();
  const beginScrape = registerCatalogMetrics({
    db: o.db,
    registry,
    ...(o.overdueGraceSeconds === undefined ? {} : { overdueGraceSeconds: o.overdueGraceSeconds }),
  });
  const counters = registerControllerMetrics(registry);
  const app = Fastify({ return503OnClosing: true });
  app.get('/metrics', async (_req, reply) => {
    try {
      beginScrape();
      const text = await registry.metrics();
      return await reply.type(registry.contentType).send(text);
    } catch (err) {
      logger.warn({ err }, 'a metrics scrape failed');
      return reply
        .code(503)
        .type('text/plain')
        .send('# the catalog could not be read; see the controller log\n');
    }
  });
  return { app, registry, counters };
}
