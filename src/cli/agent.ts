/**
 * `cinder-lvm-backup agent --host HOST@BACKEND[=VG] [--host ...] --dest DIR [options]`:
 * the storage-node daemon (see src/agent/agent.ts). Every option may also come from the
 * `[agent]` section of the configuration (or its CLB_AGENT_* variables); the command line
 * wins. Options: --concurrency N (2), --per-vg N (1), --lease-seconds N (60), --poll-seconds
 * N (10), --stop-timeout SECONDS (600), --retry-base-seconds N (30), --retry-cap-seconds N
 * (3600), --time-zone ZONE (UTC), --snapshot-size SIZE.
 */
import { runAgentProcess } from '../agent/agent-main.js';
import { realEngine } from '../agent/real-engine.js';
import type { Config } from '../config/settings.js';
import type { CommandContext } from './output.js';

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  return runAgentProcess(argv, ctx.signal, realEngine, config);
}
