/**
 * The agent's settings from its command line and environment, checked: which backend
 * hosts it serves (and their volume groups), where backups go, how much runs at once,
 * lease and stop timings.
 */
import { AppError } from '../errors.js';

export interface ServedHost {
  /** `host@backend` as in os-vol-host-attr:host without `#pool`. */
  host: string;
  /** The LVM volume group of that backend (Cinder's `volume_group`). */
  vg: string;
}

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

const DEFAULT_VG = 'cinder-volumes';
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VG = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/;

/** `node1@lvm` or `node1@lvm=vg-name`. */
export function parseServedHost(text: string): ServedHost {
  const [host = '', vg = DEFAULT_VG, ...rest] = text.split('=');
  if (rest.length > 0 || !HOST.test(host) || !VG.test(vg) || vg.length > 127) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `--host must be HOST@BACKEND or HOST@BACKEND=VG (got "${text}")`,
    );
  }
  return { host, vg };
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

/** Parses `agent` arguments; the environment supplies CLB_AGENT_HOSTS and CLB_BACKUP_DEST. */
export function parseAgentOptions(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): AgentOptions {
  const hosts: ServedHost[] = [];
  let dest = env['CLB_BACKUP_DEST'];
  const o = {
    concurrency: 2,
    perVg: 1,
    leaseSeconds: 60,
    pollSeconds: 10,
    stopTimeoutSeconds: 600,
    retryBaseSeconds: 30,
    retryCapSeconds: 3600,
    timeZone: env['CLB_TIME_ZONE'] ?? 'UTC',
    snapshotSize: undefined as string | undefined,
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
        o.leaseSeconds = positiveInt(flag, value, 3600);
        break;
      case '--poll-seconds':
        o.pollSeconds = positiveInt(flag, value, 3600);
        break;
      case '--stop-timeout':
        o.stopTimeoutSeconds = positiveInt(flag, value, 86_400);
        break;
      case '--retry-base-seconds':
        o.retryBaseSeconds = positiveInt(flag, value, 86_400);
        break;
      case '--retry-cap-seconds':
        o.retryCapSeconds = positiveInt(flag, value, 7 * 86_400);
        break;
      case '--time-zone':
        o.timeZone = value;
        break;
      case '--snapshot-size':
        o.snapshotSize = value;
        break;
      default:
        throw new AppError('INVALID_ARGUMENT', `unknown agent option ${flag}`);
    }
  }
  if (hosts.length === 0 && env['CLB_AGENT_HOSTS'] !== undefined) {
    for (const h of env['CLB_AGENT_HOSTS'].split(/[\s,]+/).filter((x) => x !== '')) {
      hosts.push(parseServedHost(h));
    }
  }
  if (hosts.length === 0) {
    throw new AppError('INVALID_ARGUMENT', 'agent needs --host HOST@BACKEND (or CLB_AGENT_HOSTS)');
  }
  if (dest === undefined || !dest.startsWith('/')) {
    throw new AppError('INVALID_ARGUMENT', 'agent needs --dest /absolute/dir (or CLB_BACKUP_DEST)');
  }
  const { snapshotSize, ...rest } = o;
  return { hosts, dest, ...rest, ...(snapshotSize === undefined ? {} : { snapshotSize }) };
}
