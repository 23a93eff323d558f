/**
 * `cinder-lvm-backup agent --host HOST@BACKEND[=VG] [--host ...] --dest DIR [options]`:
 * the storage-node daemon (see src/agent/agent.ts). Every option may also come from the
 * `[agent]` section of the configuration (or its CLB_AGENT_* variables); the command line
 * wins.
 */
import { runAgentProcess } from '../agent/agent-main.js';
import {
  resolveAgentOptions,
  type AgentDefaults,
  type AgentOptions,
} from '../agent/agent-options.js';
import { realEngine } from '../agent/real-engine.js';
import { parseServedHost } from '../config/served-host.js';
import type { Config } from '../config/settings.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import type { CommandContext } from './output.js';

const DAY = 86_400;

const OPTIONS = {
  host: {
    kind: 'string',
    arg: 'HOST@BACKEND[=VG]',
    multiple: true,
    help: 'a Cinder backend host this node serves, and its VG',
    default: '[agent] hosts; VG cinder-volumes',
  },
  dest: {
    kind: 'string',
    arg: 'DIR',
    help: 'where backups are written (absolute)',
    default: '[agent] backup_dest',
  },
  concurrency: {
    kind: 'integer',
    min: 1,
    max: 64,
    help: 'jobs at once on this node',
    default: '2',
  },
  'per-vg': {
    kind: 'integer',
    min: 1,
    max: 64,
    help: 'backups/restores at once per VG',
    default: '1',
  },
  'lease-seconds': {
    kind: 'duration',
    min: 1,
    max: 3600,
    help: 'job lease, renewed',
    default: '60s',
  },
  'poll-seconds': {
    kind: 'duration',
    min: 1,
    max: 3600,
    help: 'queue poll interval when no NOTIFY arrives',
    default: '10s',
  },
  'stop-timeout': {
    kind: 'duration',
    min: 1,
    max: DAY,
    help: 'after SIGTERM, how long running jobs may finish',
    default: '10m',
  },
  'retry-base-seconds': {
    kind: 'duration',
    min: 1,
    max: DAY,
    help: 'first delay after a retryable failure',
    default: '30s',
  },
  'retry-cap-seconds': {
    kind: 'duration',
    min: 1,
    max: 7 * DAY,
    help: 'longest delay between retries',
    default: '1h',
  },
  'time-zone': {
    kind: 'string',
    arg: 'ZONE',
    help: "retention's day/week/month zone",
    default: 'UTC',
  },
  'snapshot-size': { kind: 'string', arg: 'SIZE|PCT%', help: 'thick snapshot size' },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'agent',
  usage: ['agent --host HOST@BACKEND[=VG] [--host ...] --dest DIR [options]'],
  description:
    'Runs the storage-node agent: reaps what crashed backups left, then claims the jobs of the\n' +
    'backend hosts it serves (backups, verifies, prunes, restores) under a lease and runs\n' +
    'them. SIGTERM lets running jobs finish up to --stop-timeout, then aborts them cleanly.\n' +
    'Every option also comes from the [agent] section of the configuration (the defaults\n' +
    'shown are its defaults); the command line wins.',
  options: OPTIONS,
  examples: [
    'agent --host storage1@lvm --dest /var/backups/cinder',
    'agent --host storage1@lvm --host storage1@ssd=fast-vg --dest /var/backups/cinder --per-vg 2',
    'agent --poll-seconds 5 --stop-timeout 15m   # hosts and dest from the configuration',
  ],
};

/** The agent's options from its command line over the configuration. */
export function agentOptionsFromArgv(
  argv: readonly string[],
  defaults: AgentDefaults,
): AgentOptions {
  const v = parseCommandArgs(spec, argv).values;
  try {
    return resolveAgentOptions(
      {
        hosts: v.host?.map(parseServedHost),
        dest: v.dest,
        concurrency: v.concurrency,
        perVg: v['per-vg'],
        leaseSeconds: v['lease-seconds'],
        pollSeconds: v['poll-seconds'],
        stopTimeoutSeconds: v['stop-timeout'],
        retryBaseSeconds: v['retry-base-seconds'],
        retryCapSeconds: v['retry-cap-seconds'],
        timeZone: v['time-zone'],
        snapshotSize: v['snapshot-size'],
      },
      defaults,
    );
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'INVALID_ARGUMENT') throw usageError(spec, e.message ?? '', err);
    throw err;
  }
}

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  return runAgentProcess(agentOptionsFromArgv(argv, config), ctx.signal, realEngine, config);
}
