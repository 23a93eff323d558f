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

/** The flags, as src/cli/args.ts declares options. */
export const CONSISTENCY_OPTIONS = {
  ssh: {
    kind: 'string',
    arg: 'USER@HOST[:PORT]',
    help: 'the instance to make consistent first, over SSH',
  },
  'ssh-key': { kind: 'string', arg: 'FILE', help: 'private key ([ssh] key_file)' },
  'known-hosts': { kind: 'string', arg: 'FILE', help: 'trusted host keys ([ssh] known_hosts)' },
  'proxy-jump': { kind: 'string', arg: '[USER@]HOST[:PORT]', help: 'jump host ([ssh] proxy_jump)' },
  'connect-timeout': {
    kind: 'integer',
    arg: 'SECONDS',
    min: 1,
    max: 300,
    help: 'SSH connect timeout in whole seconds',
  },
  mysqldump: { kind: 'string', arg: 'all|DB,...', help: 'dump these MySQL/MariaDB databases' },
  'mysqldump-defaults': {
    kind: 'string',
    arg: 'FILE',
    help: "option file in the instance (default .my.cnf in the SSH user's home)",
  },
  'binlog-position': { kind: 'boolean', help: 'record the binary log position in the dump' },
  freeze: { kind: 'string', arg: 'MOUNT', multiple: true, help: 'fsfreeze this mount point' },
  'freeze-bound': {
    kind: 'integer',
    arg: 'SECONDS',
    min: 1,
    max: 600,
    help: 'longest a filesystem stays frozen',
  },
  consistency: {
    kind: 'string',
    arg: 'crash|filesystem|application',
    help: 'the level demanded (default: what the steps give)',
  },
} as const;

/** Usage lines of the flags, each continuing a command's synopsis (src/cli/args.ts). */
export const CONSISTENCY_USAGE = [
  ' [--ssh USER@HOST[:PORT] [--ssh-key FILE] [--known-hosts FILE] [--proxy-jump HOST] [--connect-timeout S]',
  '  [--mysqldump all|DB,... [--mysqldump-defaults FILE] [--binlog-position]]',
  '  [--freeze MOUNT]... [--freeze-bound S] [--consistency crash|filesystem|application]]',
];

export const CONSISTENCY_EXAMPLES = [
  'backup --lv cinder-volumes/volume-0b1c… --dest /var/backups/cinder --ssh backup@10.0.0.5 --mysqldump all --freeze /var/lib/mysql',
];

export interface ConsistencyFlagValues {
  ssh?: string | undefined;
  'ssh-key'?: string | undefined;
  'known-hosts'?: string | undefined;
  'proxy-jump'?: string | undefined;
  'connect-timeout'?: number | undefined;
  mysqldump?: string | undefined;
  'mysqldump-defaults'?: string | undefined;
  'binlog-position'?: boolean | undefined;
  freeze?: string[] | undefined;
  'freeze-bound'?: number | undefined;
  consistency?: string | undefined;
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
            : v['freeze-bound'],
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
        : v['connect-timeout'],
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
