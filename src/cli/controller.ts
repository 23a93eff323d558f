/**
 * `cinder-lvm-backup controller`: the control-node daemon, configured from the
 * configuration file and the environment (src/config/settings-schema.ts); composed and run
 * by src/controller/controller-main.ts until SIGTERM/SIGINT, then stopped in order; a
 * second signal exits at once (src/cli.ts).
 */
import type { Config } from '../config/settings.js';
import { runControllerProcess } from '../controller/controller-main.js';
import { parseCommandArgs, type CommandSpec } from './args.js';
import type { CommandContext } from './output.js';

export const spec: CommandSpec = {
  name: 'controller',
  usage: ['controller'],
  description:
    'Runs the control-node daemon: the notification consumer, the inventory poller, the\n' +
    'scheduler, the API and /metrics, and the mail reports. It takes no options: it is\n' +
    'configured by its configuration file and environment (see config show). SIGTERM stops\n' +
    'it in order; a second signal exits at once.',
  options: {},
  examples: [
    'controller',
    '--config /etc/cinder-lvm-backup/cinder-lvm-backup.conf controller',
    'config check --for controller',
  ],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  parseCommandArgs(spec, argv);
  return runControllerProcess(config, ctx.signal);
}
