/**
 * `cinder-lvm-backup reap`: remove what crashed backups left behind (processes, mounts,
 * kpartx maps, tagged snapshots, run directories) and list each.
 */
import { reap } from '../engine/reaper.js';
import type { Config } from '../config/settings.js';
import { parseCommandArgs, type CommandSpec } from './args.js';
import { createLogger } from '../log.js';
import { EXIT_FAILED, EXIT_OK, printJson, type CommandContext } from './output.js';

export const spec: CommandSpec = {
  name: 'reap',
  usage: ['reap'],
  description:
    'Removes what crashed backups left behind on this storage node: their processes (tar,\n' +
    'zstd), mounts, kpartx maps, tagged snapshots and run directories, and lists each. The\n' +
    'agent does this at start; by hand it is for a node without an agent.',
  options: {},
  examples: ['reap', 'reap --json'],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  parseCommandArgs(spec, argv);
  const logger = createLogger({ level: config.general.logLevel ?? 'warn' });
  const result = await reap({ logger, signal: ctx.signal });
  const ok = result.errors.length === 0;
  if (ctx.json) {
    printJson({
      status: ok ? 'ok' : 'failed',
      removed: result.removed,
      errors: result.errors,
      ...(ok
        ? {}
        : {
            error: {
              code: 'CLEANUP_FAILED',
              message: result.errors.map((e) => `${e.name}: ${e.message}`).join('; '),
            },
          }),
    });
  } else {
    for (const r of result.removed) process.stdout.write(`removed ${r.kind} ${r.name}\n`);
    if (result.removed.length === 0 && ok) process.stdout.write('nothing to reap\n');
    for (const e of result.errors)
      process.stderr.write(`error: CLEANUP_FAILED: ${e.name}: ${e.message}\n`);
  }
  return ok ? EXIT_OK : EXIT_FAILED;
}
