/**
 * `cinder-lvm-backup controller`: the control-node daemon, configured from the
 * configuration file and the environment (src/config/settings-schema.ts); composed and run
 * by src/controller/controller-main.ts until SIGTERM/SIGINT, then stopped in order; a
 * second signal exits at once (src/cli.ts).
 */
import type { Config } from '../config/settings.js';
import { runControllerProcess } from '../controller/controller-main.js';
import { AppError } from '../errors.js';
import type { CommandContext } from './output.js';

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  if (argv.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `controller takes no arguments (got "${argv[0]?.slice(0, 40)}"); it is configured by its configuration file and environment`,
    );
  }
  return runControllerProcess(config, ctx.signal);
}
