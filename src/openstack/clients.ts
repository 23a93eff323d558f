/**
 * One place that builds the OpenStack side of a daemon: credentials from OS_* / OS_CLOUD /
 * the service config, one Keystone session, and the Cinder and Nova clients sharing it.
 */
import {
  loadOpenStackCredentials,
  type LoadCredentialsOptions,
  type OpenStackCredentials,
} from '../config/openstack-credentials.js';
import type { Logger } from '../log.js';
import { CinderClient } from './cinder.js';
import type { RetryPolicy } from './http-retry.js';
import { KeystoneSession } from './keystone.js';
import { NovaClient } from './nova.js';

export interface OpenStackClients {
  credentials: OpenStackCredentials;
  session: KeystoneSession;
  cinder: CinderClient;
  nova: NovaClient;
}

/** Reads the credentials (throws CONFIG_INVALID naming what is missing) and builds clients. */
export async function createOpenStackClients(
  options: LoadCredentialsOptions & {
    logger?: Logger;
    retry?: Partial<RetryPolicy>;
    cinderMicroversion?: string;
  } = {},
): Promise<OpenStackClients> {
  const credentials = await loadOpenStackCredentials(options);
  const session = new KeystoneSession({
    credentials,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });
  return {
    credentials,
    session,
    cinder: new CinderClient(
      session,
      options.cinderMicroversion === undefined ? {} : { microversion: options.cinderMicroversion },
    ),
    nova: new NovaClient(session),
  };
}
