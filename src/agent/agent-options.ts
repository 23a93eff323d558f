/**
 * The agent's options: the `[agent]` settings (file and environment, checked by
 * src/config/settings.ts), overridden by its command line: which backend hosts it serves
 * (and their volume groups), where backups go, how much runs at once, lease and stop
 * timings.
 */
import { parseServedHost, type ServedHost } from '../config/served-host.js';
import type { Settings } from '../config/settings-schema.js';
import { parseDurationSeconds } from '../config/setting-types.js';
import { AppError } from '../errors.js';
import { isValidTimeZone } from '../policy/time-zone.js';

export { parseServedHost, type ServedHost } from '../config/served-host.js';

export interface AgentOptions {
  hosts: ServedHost[];
  dest: string;
  /** Jobs running at once on this node. */
  concurrency: number;
  /** Backups/restores running at once per volume group (each thick snapshot slows writes). */
  perVg: number;
  leaseSeconds: number;
  /** Poll interval when no NOTIFY arrives. */
  pollSeconds: number;
  /** After SIGTERM, how long running jobs may finish before they are aborted. */
  stopTimeoutSeconds: number;
  /** Backoff of retryable failures: first delay and ceiling (before jitter). */
  retryBaseSeconds: number;
  retryCapSeconds: number;
  /** Time zone for retention's day/week/month buckets. */
  timeZone: string;
  snapshotSize?: string;
}

/** What the settings give before the command line overrides it. */
export type AgentDefaults = Pick<Settings, 'agent'> & {
  general: Pick<Settings['general'], 'timeZone'>;
};

function seconds(name: string, text: string, max: number): number {
  const n = parseDurationSeconds(text);
  if (n === null || n < 1 || n > max) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${name} must be a whole number of seconds 1..${max} (got "${text}")`,
    );
  }
  return n;
}

function positiveInt(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${name} must be a whole number 1..${max} (got "${text}")`,
    );
  }
  return n;
}

/** Parses `agent` arguments over the settings' `[agent]` section. */
export function parseAgentOptions(argv: readonly string[], defaults: AgentDefaults): AgentOptions {
  const a = defaults.agent;
  const hosts: ServedHost[] = [];
  let dest = a.backupDest;
  const o = {
    concurrency: a.concurrency,
    perVg: a.perVg,
    leaseSeconds: a.lease,
    pollSeconds: a.pollInterval,
    stopTimeoutSeconds: a.stopTimeout,
    retryBaseSeconds: a.retryBase,
    retryCapSeconds: a.retryCap,
    timeZone: defaults.general.timeZone,
    snapshotSize: a.snapshotSize,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    if (value === undefined) throw new AppError('INVALID_ARGUMENT', `${flag} needs a value`);
    i += 1;
    switch (flag) {
      case '--host':
        hosts.push(parseServedHost(value));
        break;
      case '--dest':
        dest = value;
        break;
      case '--concurrency':
        o.concurrency = positiveInt(flag, value, 64);
        break;
      case '--per-vg':
        o.perVg = positiveInt(flag, value, 64);
        break;
      case '--lease-seconds':
        o.leaseSeconds = seconds(flag, value, 3600);
        break;
      case '--poll-seconds':
        o.pollSeconds = seconds(flag, value, 3600);
        break;
      case '--stop-timeout':
        o.stopTimeoutSeconds = seconds(flag, value, 86_400);
        break;
      case '--retry-base-seconds':
        o.retryBaseSeconds = seconds(flag, value, 86_400);
        break;
      case '--retry-cap-seconds':
        o.retryCapSeconds = seconds(flag, value, 7 * 86_400);
        break;
      case '--time-zone':
        if (!isValidTimeZone(value)) {
          throw new AppError('INVALID_ARGUMENT', `--time-zone "${value}" is not a known time zone`);
        }
        o.timeZone = value;
        break;
      case '--snapshot-size':
        o.snapshotSize = value;
        break;
      default:
        throw new AppError('INVALID_ARGUMENT', `unknown agent option ${flag}`);
    }
  }
  if (hosts.length === 0) hosts.push(...(a.hosts ?? []));
  if (hosts.length === 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      'agent needs --host HOST@BACKEND (or [agent] hosts, CLB_AGENT_HOSTS)',
    );
  }
  if (dest === undefined || !dest.startsWith('/')) {
    throw new AppError(
      'INVALID_ARGUMENT',
      'agent needs --dest /absolute/dir (or [agent] backup_dest, CLB_BACKUP_DEST)',
    );
  }
  const { snapshotSize, ...rest } = o;
  return { hosts, dest, ...rest, ...(snapshotSize === undefined ? {} : { snapshotSize }) };
}
