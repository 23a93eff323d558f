/**
 * OpenStack clients built the way a daemon builds them: OS_* variables through the
 * settings (src/config/settings.ts), credentials resolved from them, then the clients.
 */
import { credentialsFromSettings } from '../../src/config/openstack-credentials.js';
import { settingsOf } from '../../src/config/settings.js';
import { createOpenStackClients, type OpenStackClients } from '../../src/openstack/clients.js';
import type { RetryPolicy } from '../../src/openstack/http-retry.js';

export async function clientsFromEnv(
  env: Record<string, string | undefined>,
  retry?: Partial<RetryPolicy>,
): Promise<OpenStackClients> {
  const credentials = await credentialsFromSettings(settingsOf(env).openstack, env);
  return createOpenStackClients({ credentials, ...(retry === undefined ? {} : { retry }) });
}
