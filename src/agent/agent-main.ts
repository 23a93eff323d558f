/**
 * Runs an agent process: its options (resolved from the configuration and the command line
 * by src/cli/agent.ts), a pool for `[database] connection`, the given engine, until the
 * signal aborts (first SIGTERM/SIGINT; the second one exits at once, see src/cli.ts). Shared by `cinder-lvm-backup agent` and test entries
 * that plug in another engine.
 */
import type { Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { setRunRoot } from '../engine/run-dir.js';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import { Agent } from './agent.js';
import type { AgentOptions } from './agent-options.js';
import type { EnginePort } from './engine-port.js';

/** The settings the agent cannot start without. */
export const AGENT_REQUIRES = ['database.connection'] as const;

export async function runAgentProcess(
  agentOptions: AgentOptions,
  signal: AbortSignal,
  engine: EnginePort,
  config: Config,
): Promise<number> {
  // The [ssh] settings, for the consistency steps volumes' policies ask for.
  const options: AgentOptions = { ssh: config.ssh, ...agentOptions };
  const databaseUrl = config.database.connection;
  if (databaseUrl === undefined) {
    throw new AppError('INTERNAL', 'runAgentProcess: configuration loaded without AGENT_REQUIRES');
  }
  setRunRoot(config.general.runDir);
  const logger = createLogger({ name: 'agent', level: config.general.logLevel ?? 'info' });
  const pool = createPool({
    url: databaseUrl,
    applicationName: 'cinder-lvm-backup agent',
    max: options.concurrency + 3,
    // Lease renewals (every third of the lease) and queue polls reuse their connections
    // instead of opening one each time: a renewal that must connect through a slow network
    // can miss the lease.
    idleSeconds: 2 * Math.max(options.leaseSeconds, options.pollSeconds),
  });
  try {
    const agent = new Agent({ pool, databaseUrl, engine, options, logger });
    // Tests and operators find the agent by this line on stdout.
    process.stdout.write(
      `agent ${agent.agentId} serving ${options.hosts.map((h) => h.host).join(',')}\n`,
    );
    await agent.run(signal);
    return 0;
  } finally {
    await pool.end();
  }
}
