/**
 * `cinder-lvm-backup controller`: the control-node daemon, configured from the environment
 * (DATABASE_URL, AMQP_URL, OS_* or OS_CLOUD, CLB_POLL_INTERVAL, CLB_NOTIFICATION_EXCHANGES,
 * see src/controller/controller-config.ts). Runs until SIGTERM/SIGINT, then stops in order;
 * a second signal exits at once (src/cli.ts).
 */
import { Controller } from '../controller/controller.js';
import { controllerConfigFromEnv } from '../controller/controller-config.js';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import type { CommandContext } from './output.js';

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export async function run(argv: string[], ctx: CommandContext): Promise<number> {
  if (argv.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `controller takes no arguments (got "${argv[0]?.slice(0, 40)}"); it is configured from the environment`,
    );
  }
  const config = controllerConfigFromEnv(process.env);
  const logger = createLogger({ name: 'cinder-lvm-backup-controller' });
  if (!config.openstackConfigured) {
    logger.warn('neither OS_CLOUD nor OS_AUTH_URL is set: no inventory poller, notifications only');
  }
  const controller = new Controller(config, { logger });
  await controller.start();
  await waitForAbort(ctx.signal);
  logger.info('stopping');
  await controller.stop();
  return 0;
}
