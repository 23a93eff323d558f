/**
 * Runs an agent process: options from argv and the environment, a pool from
 * DATABASE_URL, the given engine, until the signal aborts (first SIGTERM/SIGINT; the
 * second one exits at once, see src/cli.ts). Shared by `cinder-lvm-backup agent` and test
 * entries that plug in another engine.
 */
import { createPool, databaseUrlFromEnv } from '../db/pool.js';
import { createLogger } from '../log.js';
import { Agent } from './agent.js';
import { parseAgentOptions } from './agent-options.js';
import type { EnginePort } from './engine-port.js';

export async function runAgentProcess(
  argv: readonly string[],
  signal: AbortSignal,
  engine: EnginePort,
): Promise<number> {
  const options = parseAgentOptions(argv, process.env);
  const databaseUrl = databaseUrlFromEnv();
  const logger = createLogger({ name: 'agent' });
  const pool = createPool({
    url: databaseUrl,
    applicationName: 'cinder-lvm-backup agent',
    max: options.concurrency + 3,
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
