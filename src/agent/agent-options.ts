/**
 * The agent's options: the `[agent]` settings (file and environment, checked by
 * src/config/settings.ts), overridden by its command line (parsed by src/cli/agent.ts):
 * which backend hosts it serves
 * (and their volume groups), where backups go, how much runs at once, lease and stop
 * timings.
 */
import type { ServedHost } from '../config/served-host.js';
import type { Settings } from '../config/settings-schema.js';
import { AppError } from '../errors.js';
import type { AgentSshSettings } from './consistency-request.js';
import { isValidTimeZone } from '../policy/time-zone.js';
import type { ArchiveBounds } from '../engine/archive-bounds.js';

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
  /** Where filesystems are read: this kernel (`host`) or a libguestfs appliance. */
  isolation?: 'host' | 'appliance';
  /** The `[ssh]` settings, for the consistency steps a volume's policy asks for. */
  ssh?: AgentSshSettings;
  /** Time and byte bounds of the archive step (`[agent] archive_*`). */
  archiveBounds?: ArchiveBounds;
}

/** What the settings give before the command line overrides it. */
export type AgentDefaults = Pick<Settings, 'agent'> & {
  general: Pick<Settings['general'], 'timeZone'>;
};

/**
 * What the command line gave (src/cli/agent.ts parses and bounds it); absent means "as the
 * settings say".
 */
export interface AgentOverrides {
  hosts?: ServedHost[] | undefined;
  dest?: string | undefined;
  concurrency?: number | undefined;
  perVg?: number | undefined;
  leaseSeconds?: number | undefined;
  pollSeconds?: number | undefined;
  stopTimeoutSeconds?: number | undefined;
  retryBaseSeconds?: number | undefined;
  retryCapSeconds?: number | undefined;
  timeZone?: string | undefined;
  snapshotSize?: string | undefined;
}

/** The agent's options: the settings' `[agent]` section with the command line over it. */
export function resolveAgentOptions(over: AgentOverrides, defaults: AgentDefaults): AgentOptions {
  const a = defaults.agent;
  const timeZone = over.timeZone ?? defaults.general.timeZone;
  if (!isValidTimeZone(timeZone)) {
    throw new AppError('INVALID_ARGUMENT', `--time-zone "${timeZone}" is not a known time zone`);
  }
  const hosts = over.hosts !== undefined && over.hosts.length > 0 ? over.hosts : (a.hosts ?? []);
  if (hosts.length === 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      'agent needs --host HOST@BACKEND (or [agent] hosts, CLB_AGENT_HOSTS)',
    );
  }
  const dest = over.dest ?? a.backupDest;
  if (dest === undefined || !dest.startsWith('/')) {
    throw new AppError(
      'INVALID_ARGUMENT',
      'agent needs --dest /absolute/dir (or [agent] backup_dest, CLB_BACKUP_DEST)',
    );
  }
  const snapshotSize = over.snapshotSize ?? a.snapshotSize;
  return {
    hosts,
    dest,
    concurrency: over.concurrency ?? a.concurrency,
    perVg: over.perVg ?? a.perVg,
    leaseSeconds: over.leaseSeconds ?? a.lease,
    pollSeconds: over.pollSeconds ?? a.pollInterval,
    stopTimeoutSeconds: over.stopTimeoutSeconds ?? a.stopTimeout,
    retryBaseSeconds: over.retryBaseSeconds ?? a.retryBase,
    retryCapSeconds: over.retryCapSeconds ?? a.retryCap,
    timeZone,
    ...(snapshotSize === undefined ? {} : { snapshotSize }),
    archiveBounds: archiveBoundsOf(a),
    ...(a.isolation === 'appliance' ? { isolation: 'appliance' as const } : {}),
  };
}

/** The archive step's bounds from the `[agent] archive_*` settings (seconds → ms). */
export function archiveBoundsOf(
  a: Pick<
    Settings['agent'],
    'archiveTimeout' | 'archiveMinRate' | 'archiveMaxRatio' | 'archiveSlack'
  >,
): ArchiveBounds {
  return {
    timeoutMs: a.archiveTimeout * 1000,
    minBytesPerSecond: a.archiveMinRate,
    maxRatio: a.archiveMaxRatio,
    slackBytes: a.archiveSlack,
  };
}
