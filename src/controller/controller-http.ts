/**
 * The controller's HTTP side: the API (when Keystone is configured: it validates callers'
 * tokens) and /metrics, each on its own listen address. Built before the consumer (the
 * metrics count what it consumes), listening once the consumer runs, closed first at stop
 * so no request starts while the pool goes away.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildApiServer } from '../api/api-server.js';
import { formatListenAddress } from '../api/listen-address.js';
import type { ListenAddress } from '../config/setting-types.js';
import {
  consumerCheck,
  inventoryPollCheck,
  keystoneCheck,
  postgresCheck,
} from '../api/readiness-checks.js';
import type { PollHealth } from './poll-health.js';
import type { ProjectQuota } from '../policy/project-quota.js';
import { readinessProbe } from '../api/readiness.js';
import { TokenValidator } from '../api/token-validator.js';
import type { VolumeLookup } from '../inventory/cinder-volume-lookup.js';
import type { Logger } from '../log.js';
import type { ControllerMetrics } from '../metrics/controller-metrics.js';
import { buildMetricsServer } from '../metrics/metrics-server.js';
import type { KeystoneSession } from '../openstack/keystone.js';

export interface ControllerHttpSettings {
  apiListen: ListenAddress;
  metricsListen: ListenAddress;
  adminRole: string;
  actionRole: string;
  /** [policy] min_backup_interval: what a tenant's back up now waits after the last backup. */
  manualMinIntervalSeconds: number;
  /** [restore] set_maintenance: hold a restore's target in Cinder's maintenance status. */
  restoreSetsMaintenance: boolean;
  /** [retention] max_project_bytes, project_quotas: what a tenant's back up now fits. */
  quota: ProjectQuota;
}

/** Counters that count nothing, for a controller built without metrics (tests). */
export const NO_COUNTERS: ControllerMetrics = {
  notificationHandled: () => undefined,
  notificationDeadLettered: () => undefined,
  pollFinished: () => undefined,
  orphanPassFinished: () => undefined,
};

export class ControllerHttp {
  private readonly metrics: ReturnType<typeof buildMetricsServer>;
  private api: FastifyInstance | null = null;
  /** Where each server listens once started (the port the OS chose for port 0). */
  readonly addresses: { api: string | null; metrics: string | null } = {
    api: null,
    metrics: null,
  };

  constructor(
    private readonly settings: ControllerHttpSettings,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {
    this.metrics = buildMetricsServer({ db: pool, logger });
  }

  get counters(): ControllerMetrics {
    return this.metrics.counters;
  }

  /** Listens; without a Keystone session the API stays off (it could not check a token). */
  async start(
    consumer: { consuming: boolean },
    keystone: KeystoneSession | null,
    cinderLookup: VolumeLookup | null,
    pollHealth: PollHealth,
    cinderResetStatus: ((volumeId: string, status: string) => Promise<void>) | null = null,
  ): Promise<void> {
    const s = this.settings;
    if (keystone === null) {
      this.logger.warn('no OpenStack credentials: the HTTP API is off (it needs Keystone)');
    } else {
      const session = keystone;
      const tokens = new TokenValidator({
        validate: (t) => session.validateToken(t, { retry: { attempts: 2, timeoutMs: 5000 } }),
      });
      this.api = await buildApiServer(
        {
          keystoneUrl: session.credentials.authUrl,
          roles: { adminRole: s.adminRole, actionRole: s.actionRole },
          manualMinIntervalSeconds: s.manualMinIntervalSeconds,
          restoreSetsMaintenance: s.restoreSetsMaintenance,
          quota: s.quota,
        },
        {
          db: this.pool,
          tokens,
          logger: this.logger,
          ...(cinderLookup === null ? {} : { cinderLookup }),
          ...(cinderResetStatus === null ? {} : { cinderResetStatus }),
          readiness: readinessProbe([
            postgresCheck(this.pool),
            consumerCheck(consumer),
            keystoneCheck(session),
            inventoryPollCheck(pollHealth),
          ]),
        },
      );
      this.addresses.api = await this.listen(this.api, s.apiListen, 'API');
    }
    this.addresses.metrics = await this.listen(this.metrics.app, s.metricsListen, 'metrics');
  }

  private async listen(app: FastifyInstance, at: ListenAddress, what: string): Promise<string> {
    await app.listen({ host: at.host, port: at.port });
    const bound = app.server.address();
    const address =
      bound !== null && typeof bound === 'object'
        ? formatListenAddress({ host: bound.address, port: bound.port })
        : formatListenAddress(at);
    this.logger.info({ address }, `${what} listening on ${address}`);
    return address;
  }

  /** Stops accepting requests and waits for those under way. */
  async stop(): Promise<void> {
    await this.api?.close();
    await this.metrics.app.close();
  }
}
