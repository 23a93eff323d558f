/**
 * The controller's settings from environment variables alone (a config file comes with the
 * operations issue). Pure: takes the environment, returns the settings or a CONFIG_INVALID
 * error naming the variable. OpenStack credentials (OS_* or OS_CLOUD) are read separately by
 * src/config/openstack-credentials.ts; here we only note whether any are present.
 */
import { AppError } from '../errors.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../policy/policy.js';
import { isValidTimeZone } from '../policy/time-zone.js';

export interface ControllerConfig {
  databaseUrl: string;
  amqpUrl: string;
  /** Exchanges Cinder publishes to (`openstack` for a stock Cinder, wire A.1). */
  exchanges: string[];
  queue: string;
  deadLetterQueue: string;
  routingKeys: string[];
  prefetch: number;
  /** Seconds between inventory polls (leader only). */
  pollIntervalSeconds: number;
  /** Seconds between scheduler passes (leader only). */
  scheduleIntervalSeconds: number;
  /** Seconds between leadership attempts by a follower. */
  leaderRetrySeconds: number;
  timeZone: string;
  retryAfterSeconds: number;
  /** Days a processed message id is remembered (idempotency horizon). */
  processedRetentionDays: number;
  limits: PolicyLimits;
  /** True when OS_CLOUD or OS_AUTH_URL is set: the poller can run. */
  openstackConfigured: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (v === undefined || v === '') throw new AppError('CONFIG_INVALID', `${name} is not set`);
  return v;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new AppError(
      'CONFIG_INVALID',
      `${name} must be an integer from ${min} to ${max}, not "${raw.slice(0, 40)}"`,
    );
  }
  return Number(raw);
}

function list(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(item)) {
      throw new AppError('CONFIG_INVALID', `${name} holds a malformed name "${item.slice(0, 40)}"`);
    }
  }
  return [...new Set(items)];
}

/** Reads the controller's settings from `env`. */
export function controllerConfigFromEnv(env: Env): ControllerConfig {
  const queue = env['CLB_NOTIFICATION_QUEUE']?.trim() || 'cinder-lvm-backup.notifications';
  const timeZone = env['CLB_TIME_ZONE']?.trim() || 'UTC';
  if (!isValidTimeZone(timeZone)) {
    throw new AppError(
      'CONFIG_INVALID',
      `CLB_TIME_ZONE "${timeZone.slice(0, 40)}" is not a known time zone`,
    );
  }
  const minInterval = integer(
    env,
    'CLB_MIN_BACKUP_INTERVAL',
    DEFAULT_POLICY_LIMITS.minIntervalSeconds,
    60,
    366 * 86_400,
  );
  return {
    databaseUrl: required(env, 'DATABASE_URL'),
    amqpUrl: required(env, 'AMQP_URL'),
    exchanges: list(env, 'CLB_NOTIFICATION_EXCHANGES', ['openstack']),
    queue,
    deadLetterQueue: env['CLB_DEAD_LETTER_QUEUE']?.trim() || `${queue}.dead-letter`,
    routingKeys: list(env, 'CLB_NOTIFICATION_ROUTING_KEYS', [
      'notifications.info',
      'notifications.error',
    ]),
    prefetch: integer(env, 'CLB_PREFETCH', 32, 1, 1000),
    pollIntervalSeconds: integer(env, 'CLB_POLL_INTERVAL', 300, 5, 86_400),
    scheduleIntervalSeconds: integer(env, 'CLB_SCHEDULE_INTERVAL', 60, 1, 86_400),
    leaderRetrySeconds: integer(env, 'CLB_LEADER_RETRY', 5, 1, 3600),
    timeZone,
    retryAfterSeconds: integer(env, 'CLB_RETRY_AFTER', 3600, 60, 7 * 86_400),
    processedRetentionDays: integer(env, 'CLB_PROCESSED_RETENTION_DAYS', 14, 1, 366),
    limits: { ...DEFAULT_POLICY_LIMITS, minIntervalSeconds: minInterval },
    openstackConfigured:
      (env['OS_CLOUD']?.trim() ?? '') !== '' || (env['OS_AUTH_URL']?.trim() ?? '') !== '',
  };
}
