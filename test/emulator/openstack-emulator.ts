/**
 * The in-repo OpenStack emulator: Keystone v3, Cinder v3 and Nova on 127.0.0.1 random
 * ports, plus an oslo.messaging-style notifier on the real RabbitMQ. Follows
 * docs/openstack-wire.md; see test/emulator/README.md for how tests use it.
 */
import { CinderApi } from './cinder-api.js';
import { EmulatorControl } from './control.js';
import { EmulatedService } from './http-service.js';
import { KeystoneApi, type CatalogServiceSpec } from './keystone-api.js';
import { NovaApi } from './nova-api.js';
import { OsloNotifier, type NotifierOptions } from './oslo-notifier.js';
import type { NotificationContext } from './oslo-format.js';
import { EmulatorState } from './state.js';
import { VolumeLifecycle } from './volume-lifecycle.js';

/** Base URLs of the running services (no trailing slash, no version). */
export interface EmulatorBaseUrls {
  keystone: string;
  cinder: string;
  nova: string;
}

export interface EmulatorOptions {
  /** Catalog to register; default `defaultCatalog`. */
  catalog?: (urls: EmulatorBaseUrls) => CatalogServiceSpec[];
  /** Keystone `[token] expiration`; default 3600. */
  tokenLifetimeSeconds?: number;
  /** Notifier settings, or false for no RabbitMQ at all. */
  notifier?: NotifierOptions | false;
  /** `host@backend#pool` new volumes land on; default `stor1@lvm#LVM`. */
  defaultBackend?: string;
  /** API node host (publisher of update/reset_status); default `controller`. */
  apiHost?: string;
  /** Time a POSTed volume stays `creating`; default 50 ms. */
  createDelayMs?: number;
  /** Volumes per project before POST /volumes answers 413 (real default 10); default none. */
  volumeQuotaPerProject?: number;
  /** Volume types that exist (POST /volumes with another name → 404); default lvmdriver-1. */
  volumeTypes?: string[];
  /** Serve all three APIs over HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** The service account and the demo tenant every emulated cloud has. */
export interface EmulatorCredentials {
  /** Keystone auth URL with `/v3`, as in OS_AUTH_URL. */
  authUrl: string;
  regionName: string;
  username: string;
  password: string;
  userDomainName: string;
  projectName: string;
  projectDomainName: string;
  projectId: string;
  userId: string;
  applicationCredentialId: string;
  applicationCredentialName: string;
  applicationCredentialSecret: string;
  /** A member (not admin) of project `demo`. */
  demo: { username: string; password: string; projectName: string; projectId: string };
}

export interface OpenStackEmulator {
  /** `http://127.0.0.1:<port>/v3` (OS_AUTH_URL). */
  keystoneUrl: string;
  /** `http://127.0.0.1:<port>/v3` (Cinder without project id). */
  cinderUrl: string;
  /** `http://127.0.0.1:<port>/v2.1`. */
  novaUrl: string;
  urls: EmulatorBaseUrls;
  credentials: EmulatorCredentials;
  /** OS_* variables for password auth against this cloud. */
  env(kind?: 'password' | 'application_credential'): Record<string, string>;
  control: EmulatorControl;
  /** Stops the HTTP services and the notifier. */
  close(): Promise<void>;
}

/** Block storage as the install guide registers it (no project id), plus the volumev3 alias
 * with the project id, compute and identity; all in RegionOne with three interfaces. */
export function defaultCatalog(urls: EmulatorBaseUrls): CatalogServiceSpec[] {
  const three = (url: string) =>
    (['public', 'internal', 'admin'] as const).map((i) => ({
      interface: i,
      region: 'RegionOne',
      url,
    }));
  return [
    { type: 'identity', name: 'keystone', endpoints: three(`${urls.keystone}/v3`) },
    { type: 'block-storage', name: 'cinder', endpoints: three(`${urls.cinder}/v3`) },
    {
      type: 'volumev3',
      name: 'cinderv3',
      endpoints: three(`${urls.cinder}/v3/%(project_id)s`),
    },
    { type: 'compute', name: 'nova', endpoints: three(`${urls.nova}/v2.1`) },
  ];
}

/** Starts Keystone, Cinder and Nova emulators (and the notifier unless disabled). */
export async function startOpenStackEmulator(
  options: EmulatorOptions = {},
): Promise<OpenStackEmulator> {
  const state = new EmulatorState();
  state.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  const admin = state.addProject('admin');
  const demo = state.addProject('demo');
  const svcUser = state.addUser('backupsvc', 'backupsvc-S3cret!', {
    [admin.id]: ['admin', 'member', 'reader'],
  });
  const demoUser = state.addUser('demo', 'demo-S3cret!', { [demo.id]: ['member', 'reader'] });
  for (const t of options.volumeTypes ?? ['lvmdriver-1']) state.volumeType(t);
  const appCred = state.addAppCredential(svcUser, admin.id, 'backupsvc-appcred', 'AppCred-S3cret!');

  const notifier =
    options.notifier === false ? null : await OsloNotifier.connect(options.notifier ?? {});

  const defaultContext = (): NotificationContext => ({
    userId: svcUser.id,
    projectId: admin.id,
    projectName: admin.name,
    roles: ['admin', 'member', 'reader'],
    isAdmin: true,
  });
  const lifecycle = new VolumeLifecycle(
    state,
    {
      notifier,
      apiHost: options.apiHost ?? 'controller',
      defaultBackend: options.defaultBackend ?? 'stor1@lvm#LVM',
      createDelayMs: options.createDelayMs ?? 50,
    },
    defaultContext,
  );

  const base = (s: EmulatedService) => s.baseUrl;
  // The services refer to each other's URLs lazily, after all three listen.
  const services = {} as Record<'keystone' | 'cinder' | 'nova', EmulatedService>;
  const urls = (): EmulatorBaseUrls => ({
    keystone: base(services.keystone),
    cinder: base(services.cinder),
    nova: base(services.nova),
  });
  const catalogOf = options.catalog ?? defaultCatalog;
  const keystone = new KeystoneApi(
    state,
    () => urls().keystone,
    () => catalogOf(urls()),
  );
  const cinder = new CinderApi(
    state,
    lifecycle,
    () => urls().cinder,
    () => `${urls().keystone}/v3`,
    options.volumeQuotaPerProject,
  );
  const nova = new NovaApi(
    state,
    () => urls().nova,
    () => `${urls().keystone}/v3`,
  );
  services.keystone = new EmulatedService('keystone', keystone.handle, options.tls);
  services.cinder = new EmulatedService('cinder', cinder.handle, options.tls);
  services.nova = new EmulatedService('nova', nova.handle, options.tls);
  try {
    await services.keystone.start();
    await services.cinder.start();
    await services.nova.start();
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.stop()));
    await notifier?.close();
    throw err;
  }

  const u = urls();
  const credentials: EmulatorCredentials = {
    authUrl: `${u.keystone}/v3`,
    regionName: 'RegionOne',
    username: svcUser.name,
    password: svcUser.password,
    userDomainName: 'Default',
    projectName: admin.name,
    projectDomainName: 'Default',
    projectId: admin.id,
    userId: svcUser.id,
    applicationCredentialId: appCred.id,
    applicationCredentialName: appCred.name,
    applicationCredentialSecret: appCred.secret,
    demo: {
      username: demoUser.name,
      password: demoUser.password,
      projectName: demo.name,
      projectId: demo.id,
    },
  };
  const control = new EmulatorControl(state, lifecycle, services, notifier);

  return {
    keystoneUrl: `${u.keystone}/v3`,
    cinderUrl: `${u.cinder}/v3`,
    novaUrl: `${u.nova}/v2.1`,
    urls: u,
    credentials,
    control,
    env(kind: 'password' | 'application_credential' = 'password'): Record<string, string> {
      if (kind === 'application_credential') {
        return {
          OS_AUTH_TYPE: 'v3applicationcredential',
          OS_AUTH_URL: credentials.authUrl,
          OS_APPLICATION_CREDENTIAL_ID: credentials.applicationCredentialId,
          OS_APPLICATION_CREDENTIAL_SECRET: credentials.applicationCredentialSecret,
          OS_REGION_NAME: credentials.regionName,
          OS_INTERFACE: 'internal',
        };
      }
      return {
        OS_AUTH_URL: credentials.authUrl,
        OS_USERNAME: credentials.username,
        OS_PASSWORD: credentials.password,
        OS_USER_DOMAIN_NAME: credentials.userDomainName,
        OS_PROJECT_NAME: credentials.projectName,
        OS_PROJECT_DOMAIN_NAME: credentials.projectDomainName,
        OS_REGION_NAME: credentials.regionName,
        OS_INTERFACE: 'internal',
        OS_IDENTITY_API_VERSION: '3',
      };
    },
    async close() {
      lifecycle.stop();
      await Promise.all(Object.values(services).map((s) => s.stop()));
      await notifier?.close();
      // Delayed work still under way now fails fast on the closed notifier.
      await lifecycle.settle();
    },
  };
}
