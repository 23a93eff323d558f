/**
 * One place that builds the OpenStack side of a daemon from its credentials (resolved by
 * the settings, src/config/openstack-credentials.ts): one Keystone session, and the Cinder
 * and Nova clients sharing it.
 */
import type { OpenStackCredentials } from '../config/openstack-credentials.js';
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

/** Builds the clients; nothing is sent until the first request. */
export function createOpenStackClients(options: {
  credentials: OpenStackCredentials;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  cinderMicroversion?: string;
}): OpenStackClients {
  const session = new KeystoneSession({
    credentials: options.credentials,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });
  return {
    credentials: options.credentials,
    session,
    cinder: new CinderClient(
      session,
      options.cinderMicroversion === undefined ? {} : { microversion: options.cinderMicroversion },
    ),
    nova: new NovaClient(session),
  };
}
