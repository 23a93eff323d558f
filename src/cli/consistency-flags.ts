/**
 * The backup command's consistency flags → a ConsistencyRequest: `--ssh USER@HOST[:PORT]`,
 * `--ssh-key FILE`, `--known-hosts FILE`, `--proxy-jump [USER@]HOST[:PORT]`,
 * `--connect-timeout S`, `--mysqldump all|DB,…`, `--mysqldump-defaults FILE` (option file
 * in the instance, default `.my.cnf` in the SSH user's home), `--binlog-position`,
 * `--freeze MOUNT`…, `--freeze-bound S`, `--consistency crash|filesystem|application`.
 * By hand, asking for a dump or a freeze demands that level unless --consistency says less.
 */
import { resolve } from 'node:path';
import type { ConsistencyRequest } from '../consistency/consistency-steps.js';
import { DEFAULT_FREEZE_BOUND_SECONDS } from '../consistency/fsfreeze.js';
import { isLevel, LEVELS } from '../policy/consistency-levels.js';
import { assertRemotePath } from '../consistency/remote-command.js';
import {
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_KNOWN_HOSTS_FILE,
  DEFAULT_SSH_KEY_FILE,
  checkTarget,
  parseUserHost,
} from '../consistency/ssh-target.js';
import { AppError } from '../errors.js';
import { parseFreeze, parseMysqldump } from '../policy/consistency-options.js';

/** parseArgs option specs of the flags. */
export const CONSISTENCY_OPTIONS = {
  ssh: { type: 'string' },
  'ssh-key': { type: 'string' },
  'known-hosts': { type: 'string' },
  'proxy-jump': { type: 'string' },
  'connect-timeout': { type: 'string' },
  mysqldump: { type: 'string' },
  'mysqldump-defaults': { type: 'string' },
  'binlog-position': { type: 'boolean' },
  freeze: { type: 'string', multiple: true },
  'freeze-bound': { type: 'string' },
  consistency: { type: 'string' },
} as const;

export const CONSISTENCY_USAGE =
  '[--ssh USER@HOST[:PORT] [--ssh-key FILE] [--known-hosts FILE] [--proxy-jump HOST] [--mysqldump all|DB,... [--mysqldump-defaults FILE] [--binlog-position]] [--freeze MOUNT]... [--freeze-bound S] [--consistency crash|filesystem|application]]';

export interface ConsistencyFlagValues {
  ssh?: string | undefined;
  'ssh-key'?: string | undefined;
  'known-hosts'?: string | undefined;
  'proxy-jump'?: string | undefined;
  'connect-timeout'?: string | undefined;
  mysqldump?: string | undefined;
  'mysqldump-defaults'?: string | undefined;
  'binlog-position'?: boolean | undefined;
  freeze?: string[] | undefined;
  'freeze-bound'?: string | undefined;
  consistency?: string | undefined;
}

function seconds(name: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) {
    throw new AppError('INVALID_ARGUMENT', `--${name} must be whole seconds 1..${max}`);
  }
  return n;
}

/** Operator defaults (the `[ssh]` settings) the flags override. */
export interface SshDefaults {
  keyFile?: string | undefined;
  knownHosts?: string | undefined;
  connectTimeout?: number | undefined;
  freezeBound?: number | undefined;
  commandTimeout?: number | undefined;
  proxyJump?: string | undefined;
}

/** The request the flags make, or undefined when no --ssh was given (and no step asked). */
export function consistencyFromFlags(
  v: ConsistencyFlagValues,
  defaults: SshDefaults = {},
): ConsistencyRequest | undefined {
  const asksSteps =
    v.mysqldump !== undefined || (v.freeze?.length ?? 0) > 0 || v.consistency !== undefined;
  if (v.ssh === undefined) {
    if (asksSteps) {
      throw new AppError('INVALID_ARGUMENT', '--mysqldump, --freeze and --consistency need --ssh');
    }
    return undefined;
  }
  const { user, host, port } = parseUserHost(v.ssh);
  let level = null;
  if (v.consistency !== undefined) {
    if (!isLevel(v.consistency)) {
      throw new AppError('INVALID_ARGUMENT', `--consistency must be one of ${LEVELS.join(', ')}`);
    }
    level = v.consistency;
  }
  let mysqldump: ConsistencyRequest['mysqldump'] = null;
  if (v.mysqldump !== undefined) {
    const parsed = parseMysqldump(v.mysqldump);
    if (!parsed.ok) throw new AppError('INVALID_ARGUMENT', parsed.reason);
    if (parsed.value !== null) {
      mysqldump = {
        databases: parsed.value.databases,
        optionFile: assertRemotePath(v['mysqldump-defaults'] ?? '.my.cnf'),
        binlogPosition: v['binlog-position'] === true,
        program: 'mysqldump',
      };
    }
  }
  let freeze: ConsistencyRequest['freeze'] = null;
  if (v.freeze !== undefined && v.freeze.length > 0) {
    const parsed = parseFreeze(v.freeze.join(','));
    if (!parsed.ok)
      throw new AppError('INVALID_ARGUMENT', parsed.reason.replace('backup:freeze', '--freeze'));
    if (parsed.value !== null) {
      freeze = {
        mountpoints: parsed.value.mountpoints,
        boundSeconds:
          v['freeze-bound'] === undefined
            ? (defaults.freezeBound ?? DEFAULT_FREEZE_BOUND_SECONDS)
            : seconds('freeze-bound', v['freeze-bound'], 600),
      };
    }
  }
  const ssh = checkTarget({
    user,
    host,
    port,
    keyFile: resolve(v['ssh-key'] ?? defaults.keyFile ?? DEFAULT_SSH_KEY_FILE),
    knownHostsFile: resolve(v['known-hosts'] ?? defaults.knownHosts ?? DEFAULT_KNOWN_HOSTS_FILE),
    connectTimeoutSeconds:
      v['connect-timeout'] === undefined
        ? Math.round(defaults.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_SECONDS)
        : seconds('connect-timeout', v['connect-timeout'], 300),
    ...((v['proxy-jump'] ?? defaults.proxyJump) === undefined
      ? {}
      : { proxyJump: v['proxy-jump'] ?? defaults.proxyJump }),
  });
  return {
    ssh,
    mysqldump,
    freeze,
    level,
    ...(defaults.commandTimeout === undefined
      ? {}
      : { dumpTimeoutMs: defaults.commandTimeout * 1000 }),
  };
}
