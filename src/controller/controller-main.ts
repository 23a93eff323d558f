/**
 * Runs a controller process from its configuration: the OpenStack side (Keystone session,
 * Cinder client, volume lookup, inventory poller, Nova instance resolver, the release of
 * restore targets held in maintenance) when credentials are configured, the
 * Controller, until the signal aborts (first SIGTERM/SIGINT; the second exits at once, see
 * src/cli.ts), then its orderly stop.
 */
import type { Config } from '../config/settings.js';
import { cinderChangedVolumes } from '../inventory/cinder-changed-volumes.js';
import { cinderVolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { instanceResolverTask } from '../inventory/instance-resolver.js';
import { InventoryPoller } from '../inventory/poller.js';
import { restoreTargetReleaseTask } from '../jobs/release-restore-targets.js';
import { createLogger, type Logger } from '../log.js';
import { createOpenStackClients } from '../openstack/clients.js';
import { parseAddressSources } from '../openstack/nova.js';
import { Controller, type ControllerDeps } from './controller.js';
import { controllerConfigOf, type ControllerConfig } from './controller-config.js';

/** The OpenStack side: Cinder lookups for the consumer and the poller for the leader. */
function openstackDeps(
  config: ControllerConfig,
  ssh: Config['ssh'],
  credentials: NonNullable<Config['openstackCredentials']>,
  logger: Logger,
): ControllerDeps {
  const { cinder, nova, session } = createOpenStackClients({ credentials, logger });
  // The settings' pattern admits only what parseAddressSources reads.
  const sources = parseAddressSources(ssh.addressFrom) ?? [{ kind: 'floating' }, { kind: 'fixed' }];
  const lookup = cinderVolumeLookup(cinder);
  const resetVolumeStatus = (id: string, status: string) => cinder.resetStatus(id, status);
  return {
    keystone: session,
    lookup,
    listChanged: cinderChangedVolumes(cinder),
    resetVolumeStatus,
    leaderServices: (pool, hooks) => [
      new InventoryPoller({
        pool,
        cinder,
        logger,
        intervalSeconds: config.pollIntervalSeconds,
        onPolled: () => hooks.afterPoll(),
        onPollFinished: hooks.pollFinished,
      }),
      instanceResolverTask({
        pool,
        nova,
        sources,
        refreshSeconds: ssh.resolveInterval,
        intervalSeconds: Math.min(60, ssh.resolveInterval),
        logger,
      }),
      // Runs whatever [restore] set_maintenance says now: holds made before it was turned
      // off still need their volumes put back.
      restoreTargetReleaseTask({
        pool,
        cinder: { lookup, resetStatus: resetVolumeStatus },
        intervalSeconds: config.restoreReleaseIntervalSeconds,
        logger,
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

/**
 * Runs the controller until `signal` aborts; `config` was loaded with CONTROLLER_REQUIRES
 * and the OpenStack credentials resolved. Returns the exit code.
 */
export async function runControllerProcess(config: Config, signal: AbortSignal): Promise<number> {
  const controllerConfig = controllerConfigOf(config);
  const logger = createLogger({
    name: 'cinder-lvm-backup-controller',
    level: config.general.logLevel ?? 'info',
  });
  let deps: ControllerDeps = {};
  if (config.openstackCredentials !== null) {
    deps = openstackDeps(controllerConfig, config.ssh, config.openstackCredentials, logger);
  } else {
    logger.warn(
      'no OpenStack credentials ([service_credentials], OS_CLOUD or OS_AUTH_URL): no inventory poller, notifications only',
    );
  }
  const controller = new Controller(controllerConfig, { ...deps, logger });
  // start() waits for RabbitMQ (it retries with backoff); a signal meanwhile stops it.
  const started = controller.start();
  await Promise.race([started, waitForAbort(signal)]);
  if (!signal.aborted) {
    await started;
    await waitForAbort(signal);
  }
  logger.info('stopping');
  await controller.stop();
  await started.catch(() => undefined);
  return 0;
}
