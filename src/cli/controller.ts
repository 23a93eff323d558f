/**
 * `cinder-lvm-backup controller`: the control-node daemon, configured from the environment
 * (DATABASE_URL, AMQP_URL, OS_* or OS_CLOUD, CLB_POLL_INTERVAL, CLB_NOTIFICATION_EXCHANGES,
 * see src/controller/controller-config.ts). Runs until SIGTERM/SIGINT, then stops in order;
 * a second signal exits at once (src/cli.ts).
 */
import { loadOpenStackCredentials } from '../config/openstack-credentials.js';
import { Controller, type ControllerDeps } from '../controller/controller.js';
import { controllerConfigFromEnv, type ControllerConfig } from '../controller/controller-config.js';
import { AppError } from '../errors.js';
import { cinderVolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { InventoryPoller } from '../inventory/poller.js';
import { createLogger, type Logger } from '../log.js';
import { CinderClient } from '../openstack/cinder.js';
import { KeystoneSession } from '../openstack/keystone.js';
import type { CommandContext } from './output.js';

/** The OpenStack side: Cinder lookups for the consumer and the poller for the leader. */
async function openstackDeps(config: ControllerConfig, logger: Logger): Promise<ControllerDeps> {
  const credentials = await loadOpenStackCredentials({ env: process.env });
  const cinder = new CinderClient(new KeystoneSession({ credentials, logger }));
  return {
    lookup: cinderVolumeLookup(cinder),
    leaderServices: (pool, hooks) => [
      new InventoryPoller({
        pool,
        cinder,
        logger,
        intervalSeconds: config.pollIntervalSeconds,
        onPolled: () => hooks.afterPoll(),
      }),
    ],
  };
}

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
  let deps: ControllerDeps = {};
  if (config.openstackConfigured) {
    deps = await openstackDeps(config, logger);
  } else {
    logger.warn('neither OS_CLOUD nor OS_AUTH_URL is set: no inventory poller, notifications only');
  }
  const controller = new Controller(config, { ...deps, logger });
  // start() waits for RabbitMQ (it retries with backoff); a signal meanwhile stops it.
  const started = controller.start();
  await Promise.race([started, waitForAbort(ctx.signal)]);
  if (!ctx.signal.aborted) {
    await started;
    await waitForAbort(ctx.signal);
  }
  logger.info('stopping');
  await controller.stop();
  await started.catch(() => undefined);
  return 0;
}
