/**
 * Runs an agent process: its options (resolved from the configuration and the command line
 * by src/cli/agent.ts), a pool for `[database] connection`, the given engine, until the
 * signal aborts (first SIGTERM/SIGINT; the second one exits at once, see src/cli.ts). Shared
 * by `cinder-lvm-backup agent` and test entries that plug in another engine.
 *
 * Resolves with 0, or 1 when the stop had to leave jobs behind (see Agent.stopJobs). Either
 * way the caller exits explicitly: a write blocked in the kernel keeps its thread-pool
 * request, and so Node's event loop, alive after everything else closed.
 */
import type { Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { setRunRoot } from '../engine/run-dir.js';
import { settledWithin } from '../lifecycle/sleep.js';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import { Agent } from './agent.js';
import type { AgentOptions } from './agent-options.js';
import type { EnginePort } from './engine-port.js';

/** How long closing the pool may wait for clients still checked out. */
const POOL_CLOSE_MS = 5_000;

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
    const { abandoned } = await agent.run(signal);
    return abandoned > 0 ? 1 : 0;
  } finally {
    // A job left behind may hold a client it never gives back: pool.end() would wait for it.
    await settledWithin(pool.end(), POOL_CLOSE_MS);
  }
}
