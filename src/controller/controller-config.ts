/**
 * The controller's settings, taken from the loaded configuration (src/config/settings.ts,
 * where each is defined with its bounds and checked). Pure.
 */
import type { Config } from '../config/settings.js';
import { AppError } from '../errors.js';
import { openstackConfigured } from '../config/openstack-credentials.js';
import type { BusTrust } from '../notifications/process-message.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../policy/policy.js';
import type { ProjectQuota } from '../policy/project-quota.js';
import { mailSettingsOf, type MailSettings } from '../report/mail-settings.js';
import type { ControllerHttpSettings } from './controller-http.js';

export interface ControllerConfig {
  databaseUrl: string;
  /** One amqp(s) URL per RabbitMQ node, tried in turn (`[DEFAULT] transport_url`). */
  amqpUrls: string[];
  /** Exchanges Cinder publishes to (`openstack` for a stock Cinder, wire A.1). */
  exchanges: string[];
  queue: string;
  deadLetterQueue: string;
  routingKeys: string[];
  prefetch: number;
  /** Notifications per transaction and the longest wait for a batch to fill. */
  batchSize: number;
  batchWaitMs: number;
  /** Cinder reads that confirm hints: per second, in flight, and the delay of a new hint. */
  lookupRate: number;
  lookupConcurrency: number;
  hintDelayMs: number;
  /** Most waiting hints of volumes not in the inventory ([notifications] max_unknown_hints). */
  maxUnknownHints: number;
  /** Seconds between inventory polls (leader only). */
  pollIntervalSeconds: number;
  /** Seconds between scheduler passes (leader only). */
  scheduleIntervalSeconds: number;
  /** Seconds between leadership attempts by a follower. */
  leaderRetrySeconds: number;
  /** Seconds between the leader's passes that put ended restores' targets back. */
  restoreReleaseIntervalSeconds: number;
  timeZone: string;
  retryAfterSeconds: number;
  /** Days a processed message id is remembered (idempotency horizon). */
  processedRetentionDays: number;
  limits: PolicyLimits;
  /** How long backups of a deleted or switched-off volume are kept ([retention] orphan_grace). */
  orphanGraceSeconds: number;
  /** Bytes each project's backups may occupy ([retention] max_project_bytes, project_quotas). */
  quota: ProjectQuota;
  /**
   * Which broker users may publish notifications and how far in the future an event may
   * be dated ([notifications] cinder_broker_users, max_future_skew).
   */
  busTrust: BusTrust;
  /** True when a cloud or a Keystone URL is configured: the poller can run. */
  openstackConfigured: boolean;
  /** Mail reports (daily report, failure mails); null when [mail] smtp_url is not set. */
  mail: MailSettings | null;
  /** The HTTP API and /metrics ([api], [metrics]). */
  http: ControllerHttpSettings;
}

/** The settings the controller cannot start without. */
export const CONTROLLER_REQUIRES = ['database.connection', 'general.transport_url'] as const;

/** The policy limits of the configuration. */
export function policyLimitsOf(config: Pick<Config, 'policy' | 'retention'>): PolicyLimits {
  const r = config.retention;
  return {
    ...DEFAULT_POLICY_LIMITS,
    minIntervalSeconds: config.policy.minBackupInterval,
    defaultSchedule: config.policy.defaultSchedule,
    defaultIncremental: {
      enabled: config.policy.incremental,
      fullEvery: config.policy.fullEvery,
    },
    defaultRetention: r.default,
    maxKeepLast: r.maxKeepLast,
    maxDaily: r.maxDaily,
    maxWeekly: r.maxWeekly,
    maxMonthly: r.maxMonthly,
    maxAgeDays: r.maxAgeDays,
    maxBackupsPerVolume: r.maxBackupsPerVolume,
  };
}

/** The per-project byte quota of the configuration. */
export function projectQuotaOf(config: Pick<Config, 'retention'>): ProjectQuota {
  return {
    defaultBytes: config.retention.maxProjectBytes,
    perProject: new Map(config.retention.projectQuotas ?? []),
  };
}

/** The controller's view of `config` (loaded with CONTROLLER_REQUIRES). */
export function controllerConfigOf(config: Config): ControllerConfig {
  const n = config.notifications;
  const c = config.controller;
  const databaseUrl = config.database.connection;
  const amqpUrls = config.general.transportUrl;
  if (databaseUrl === undefined || amqpUrls === undefined) {
    throw new AppError(
      'INTERNAL',
      'controllerConfigOf: configuration loaded without CONTROLLER_REQUIRES',
    );
  }
  return {
    databaseUrl,
    amqpUrls,
    exchanges: n.exchanges,
    queue: n.queue,
    deadLetterQueue: n.deadLetterQueue ?? `${n.queue}.dead-letter`,
    routingKeys: n.routingKeys,
    prefetch: n.prefetch,
    batchSize: n.batchSize,
    batchWaitMs: n.batchWaitMs,
    lookupRate: n.lookupRate,
    lookupConcurrency: n.lookupConcurrency,
    hintDelayMs: n.hintDelayMs,
    maxUnknownHints: n.maxUnknownHints,
    pollIntervalSeconds: c.pollInterval,
    scheduleIntervalSeconds: c.scheduleInterval,
    leaderRetrySeconds: c.leaderRetry,
    restoreReleaseIntervalSeconds: config.restore.releaseInterval,
    timeZone: config.general.timeZone,
    retryAfterSeconds: c.retryAfter,
    processedRetentionDays: n.processedRetentionDays,
    limits: policyLimitsOf(config),
    orphanGraceSeconds: config.retention.orphanGrace,
    quota: projectQuotaOf(config),
    busTrust: {
      cinderBrokerUsers: n.cinderBrokerUsers ?? [],
      maxFutureSkewSeconds: n.maxFutureSkew,
    },
    openstackConfigured: openstackConfigured(config.openstack),
    mail: mailSettingsOf(config),
    http: {
      apiListen: config.api.listen,
      metricsListen: config.metrics.listen,
      adminRole: config.api.adminRole,
      actionRole: config.api.actionRole,
      manualMinIntervalSeconds: config.policy.minBackupInterval,
      restoreSetsMaintenance: config.restore.setMaintenance,
      quota: projectQuotaOf(config),
    },
  };
}
